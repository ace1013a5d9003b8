//! VKScript syntax: a recursive-descent parser from tokens to a small AST.
//!
//! Bounded by construction: the source size is capped by the caller, bracket,
//! block and unary nesting is capped at [`MAX_NESTING`], and every
//! expression tree at [`MAX_EXPR_DEPTH`] levels (so long left-leaning chains
//! such as `1+1+…` cannot overflow the interpreter's stack either).

use super::lexer::{tokenize, Tok, Token};
use serde_json::Value;
use std::fmt;

/// Deepest nesting of blocks, brackets, parentheses and unary operators.
pub const MAX_NESTING: usize = 64;
/// Deepest expression tree (counting every operator and access level).
pub const MAX_EXPR_DEPTH: u32 = 200;

/// A syntax error at a byte offset of the source.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Byte offset where the problem starts.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
}

impl SyntaxError {
    pub(crate) fn new(pos: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            pos,
            message: message.into(),
        }
    }

    /// `Syntax error at line L, column C: …` for a given source.
    pub fn render(&self, src: &str) -> String {
        let (line, col) = line_col(src, self.pos);
        format!(
            "Syntax error at line {line}, column {col}: {}",
            self.message
        )
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "syntax error at byte {}: {}", self.pos, self.message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(src.len());
    while !src.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &src[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// A parsed VKScript program.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub(crate) body: Vec<Stmt>,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stmt {
    /// `var a = 1, b;`
    Var(Vec<(String, Option<Expr>)>),
    /// An expression evaluated for its effects (assignment, call, `push`).
    Expr(Expr),
    /// `return expr;` (`None`: `return;`, answers `null`).
    Return(Option<Expr>),
    /// `if (c) s else s`
    If(Expr, Box<Stmt>, Option<Box<Stmt>>),
    /// `while (c) s`
    While(Expr, Box<Stmt>),
    /// `{ … }`
    Block(Vec<Stmt>),
    /// `break;`
    Break,
    /// `continue;`
    Continue,
}

/// An expression with the byte offset it starts at and its tree depth.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub pos: usize,
    pub depth: u32,
}

/// Binary operators (the short-circuit ones are [`ExprKind::Logic`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    StrictEq,
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
    Pow,
    Shl,
    Shr,
    BitAnd,
    BitOr,
    BitXor,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::StrictEq => "===",
            BinOp::StrictNe => "!==",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Pow => "**",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
        }
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnOp {
    Not,
    Neg,
    Plus,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExprKind {
    /// A number, string, `true`, `false` or `null`.
    Lit(Value),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{a: 1, "b": 2}`
    Object(Vec<(String, Expr)>),
    /// A variable (including `Args`).
    Var(String),
    /// `x.field` (and `.length`).
    Member(Box<Expr>, String),
    /// `x[i]`, `x["k"]`.
    Index(Box<Expr>, Box<Expr>),
    /// `x@.field`: the field of every element.
    Pluck(Box<Expr>, String),
    /// `API.section.method(arg)`: the method name as written and the optional argument.
    Api(String, Option<Box<Expr>>),
    /// `x.push(a)`, `s.split(",")`, …
    Method(Box<Expr>, String, Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `&&` (true) or `||` (false).
    Logic(bool, Box<Expr>, Box<Expr>),
    /// `c ? a : b`
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `x = v` or `x op= v`.
    Assign(Option<BinOp>, Box<Expr>, Box<Expr>),
    /// `++x`, `x--`, …: the step and whether it is prefix.
    Update(i64, bool, Box<Expr>),
    /// `parseInt(x)`, `parseDouble(x)`: a built-in function and its arguments.
    Func(String, Vec<Expr>),
    /// `delete x.field` / `delete x[i]`.
    Delete(Box<Expr>),
}

impl ExprKind {
    pub fn is_place(&self) -> bool {
        matches!(
            self,
            ExprKind::Var(_) | ExprKind::Member(..) | ExprKind::Index(..)
        )
    }
}

/// Precedence of a binary operator token (`None` operator: `&&`/`||`).
fn binary_op(sym: &str) -> Option<(u8, Option<BinOp>)> {
    Some(match sym {
        "||" => (0, None),
        "&&" => (1, None),
        "|" => (2, Some(BinOp::BitOr)),
        "^" => (3, Some(BinOp::BitXor)),
        "&" => (4, Some(BinOp::BitAnd)),
        "==" => (5, Some(BinOp::Eq)),
        "!=" => (5, Some(BinOp::Ne)),
        "===" => (5, Some(BinOp::StrictEq)),
        "!==" => (5, Some(BinOp::StrictNe)),
        "<" => (6, Some(BinOp::Lt)),
        "<=" => (6, Some(BinOp::Le)),
        ">" => (6, Some(BinOp::Gt)),
        ">=" => (6, Some(BinOp::Ge)),
        "<<" => (7, Some(BinOp::Shl)),
        ">>" => (7, Some(BinOp::Shr)),
        "+" => (8, Some(BinOp::Add)),
        "-" => (8, Some(BinOp::Sub)),
        "*" => (9, Some(BinOp::Mul)),
        "/" => (9, Some(BinOp::Div)),
        "%" => (9, Some(BinOp::Rem)),
        "**" => (10, Some(BinOp::Pow)),
        _ => return None,
    })
}

const RESERVED: &[&str] = &[
    "var", "return", "if", "else", "while", "break", "continue", "true", "false", "null",
    "function", "for", "do", "new", "this", "delete", "API", "Args",
];

/// Built-in functions (`parseInt("5")`).
pub(crate) const FUNCTIONS: &[&str] = &["parseInt", "parseDouble", "parseFloat"];

/// Parses VKScript source.
pub fn parse(src: &str) -> Result<Program, SyntaxError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        toks: tokens,
        i: 0,
        depth: 0,
        loops: 0,
    };
    let mut body = Vec::new();
    while !p.at_eof() {
        if p.eat(";") {
            continue;
        }
        body.push(p.statement()?);
    }
    Ok(Program { body })
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: usize,
    loops: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Int(n) => format!("the number {n}"),
        Tok::Float(f) => format!("the number {f}"),
        Tok::Str(_) => "a string".into(),
        Tok::Punct(p) => format!("`{p}`"),
        Tok::Eof => "the end of the code".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn at_eof(&self) -> bool {
        self.peek().tok == Tok::Eof
    }

    fn is(&self, p: &str) -> bool {
        matches!(&self.peek().tok, Tok::Punct(q) if *q == p)
    }

    fn is_kw(&self, k: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == k)
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.is(p) {
            self.next();
            true
        } else {
            false
        }
    }

    fn err_here(&self, what: &str) -> SyntaxError {
        let t = self.peek();
        SyntaxError::new(
            t.pos,
            format!("expected {what} but found {}", describe(&t.tok)),
        )
    }

    fn expect(&mut self, p: &str) -> Result<usize, SyntaxError> {
        if self.is(p) {
            Ok(self.next().pos)
        } else {
            Err(self.err_here(&format!("`{p}`")))
        }
    }

    fn ident(&mut self, what: &str) -> Result<(String, usize), SyntaxError> {
        match &self.peek().tok {
            Tok::Ident(s) => {
                let s = s.clone();
                Ok((s, self.next().pos))
            }
            _ => Err(self.err_here(what)),
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(SyntaxError::new(
                self.peek().pos,
                format!("the code is nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A statement ends at `;` (eaten), before `}`, at the end, or at a line break.
    fn end_statement(&mut self) -> Result<(), SyntaxError> {
        if self.eat(";") || self.is("}") || self.at_eof() || self.peek().nl_before {
            Ok(())
        } else {
            Err(self.err_here("`;` or a line break"))
        }
    }

    fn statement(&mut self) -> Result<Stmt, SyntaxError> {
        self.enter()?;
        let r = self.statement_inner();
        self.leave();
        r
    }

    fn statement_inner(&mut self) -> Result<Stmt, SyntaxError> {
        if self.eat("{") {
            return self.block_rest().map(Stmt::Block);
        }
        let kw = match &self.peek().tok {
            Tok::Ident(s) => s.clone(),
            _ => String::new(),
        };
        match kw.as_str() {
            "var" | "let" | "const" => {
                self.next();
                let mut decls = Vec::new();
                loop {
                    let (name, pos) = self.ident("a variable name")?;
                    if RESERVED.contains(&name.as_str()) {
                        return Err(SyntaxError::new(
                            pos,
                            format!("`{name}` is a reserved word and cannot be a variable name"),
                        ));
                    }
                    let init = if self.eat("=") {
                        Some(self.expr()?)
                    } else {
                        None
                    };
                    decls.push((name, init));
                    if !self.eat(",") {
                        break;
                    }
                }
                self.end_statement()?;
                Ok(Stmt::Var(decls))
            }
            "return" => {
                self.next();
                let value = if self.is(";") || self.is("}") || self.at_eof() {
                    None
                } else {
                    Some(self.expr()?)
                };
                self.end_statement()?;
                Ok(Stmt::Return(value))
            }
            "if" => {
                self.next();
                self.expect("(")?;
                let cond = self.expr()?;
                self.expect(")")?;
                let then = Box::new(self.body()?);
                let otherwise = if self.is_kw("else") {
                    self.next();
                    Some(Box::new(self.body()?))
                } else {
                    None
                };
                Ok(Stmt::If(cond, then, otherwise))
            }
            "while" => {
                self.next();
                self.expect("(")?;
                let cond = self.expr()?;
                self.expect(")")?;
                self.loops += 1;
                let body = self.body();
                self.loops -= 1;
                Ok(Stmt::While(cond, Box::new(body?)))
            }
            "break" | "continue" => {
                let pos = self.next().pos;
                if self.loops == 0 {
                    return Err(SyntaxError::new(
                        pos,
                        format!("`{kw}` is only allowed inside a `while` loop"),
                    ));
                }
                self.end_statement()?;
                Ok(if kw == "break" {
                    Stmt::Break
                } else {
                    Stmt::Continue
                })
            }
            "function" | "for" | "do" | "switch" | "try" | "throw" | "new" | "class" => {
                let pos = self.peek().pos;
                Err(SyntaxError::new(pos, format!("`{kw}` is not supported in VKScript (use `var`, `if`, `while` and `return`)")))
            }
            "else" => Err(SyntaxError::new(
                self.peek().pos,
                "`else` without a matching `if`",
            )),
            _ => {
                let e = self.expr()?;
                self.end_statement()?;
                Ok(Stmt::Expr(e))
            }
        }
    }

    /// The body of `if`/`while`/`else`: a statement, where a lone `;` is empty.
    fn body(&mut self) -> Result<Stmt, SyntaxError> {
        if self.eat(";") {
            return Ok(Stmt::Block(Vec::new()));
        }
        self.statement()
    }

    /// After `{`: statements up to the matching `}`.
    fn block_rest(&mut self) -> Result<Vec<Stmt>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            if self.eat("}") {
                return Ok(out);
            }
            if self.at_eof() {
                return Err(self.err_here("`}`"));
            }
            if self.eat(";") {
                continue;
            }
            out.push(self.statement()?);
        }
    }

    /// A node one level above its deepest child.
    fn node(&self, kind: ExprKind, pos: usize, child_depth: u32) -> Result<Expr, SyntaxError> {
        let depth = child_depth + 1;
        self.depth_ok(pos, depth)?;
        Ok(Expr { kind, pos, depth })
    }

    /// A full expression (assignment level).
    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.enter()?;
        let r = self.assign();
        self.leave();
        r
    }

    fn assign(&mut self) -> Result<Expr, SyntaxError> {
        let lhs = self.conditional()?;
        let op = match &self.peek().tok {
            Tok::Punct("=") => None,
            Tok::Punct("+=") => Some(BinOp::Add),
            Tok::Punct("-=") => Some(BinOp::Sub),
            Tok::Punct("*=") => Some(BinOp::Mul),
            Tok::Punct("/=") => Some(BinOp::Div),
            Tok::Punct("%=") => Some(BinOp::Rem),
            _ => return Ok(lhs),
        };
        let at = self.next().pos;
        if !lhs.kind.is_place() {
            return Err(SyntaxError::new(
                at,
                "only a variable, `x.field` or `x[i]` can be assigned to",
            ));
        }
        if let ExprKind::Var(name) = &lhs.kind {
            if name == "Args" {
                return Err(SyntaxError::new(
                    lhs.pos,
                    "`Args` cannot be replaced (its fields can be changed)",
                ));
            }
        }
        let rhs = self.expr()?;
        let (pos, d) = (lhs.pos, lhs.depth.max(rhs.depth));
        self.node(ExprKind::Assign(op, Box::new(lhs), Box::new(rhs)), pos, d)
    }

    fn conditional(&mut self) -> Result<Expr, SyntaxError> {
        let c = self.binary(0)?;
        if !self.eat("?") {
            return Ok(c);
        }
        let a = self.expr()?;
        self.expect(":")?;
        let b = self.expr()?;
        let pos = c.pos;
        let (da, db, dc) = (a.depth, b.depth, c.depth);
        let e = ExprKind::Cond(Box::new(c), Box::new(a), Box::new(b));
        let depth = 1 + da.max(db).max(dc);
        self.depth_ok(pos, depth)?;
        Ok(Expr {
            kind: e,
            pos,
            depth,
        })
    }

    fn depth_ok(&self, pos: usize, depth: u32) -> Result<(), SyntaxError> {
        if depth > MAX_EXPR_DEPTH {
            return Err(SyntaxError::new(
                pos,
                format!("the expression is too deeply nested (more than {MAX_EXPR_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn combine(
        &self,
        kind: impl FnOnce(Box<Expr>, Box<Expr>) -> ExprKind,
        l: Expr,
        r: Expr,
    ) -> Result<Expr, SyntaxError> {
        let pos = l.pos;
        let depth = 1 + l.depth.max(r.depth);
        self.depth_ok(pos, depth)?;
        Ok(Expr {
            kind: kind(Box::new(l), Box::new(r)),
            pos,
            depth,
        })
    }

    /// Binary operators by precedence climbing (one stack frame per level, not per precedence).
    fn binary(&mut self, min_prec: u8) -> Result<Expr, SyntaxError> {
        let mut l = self.unary()?;
        loop {
            let Tok::Punct(sym) = self.peek().tok else {
                return Ok(l);
            };
            let Some((prec, op)) = binary_op(sym) else {
                return Ok(l);
            };
            if prec < min_prec {
                return Ok(l);
            }
            self.next();
            let r = if op == Some(BinOp::Pow) {
                // `**` is right-associative: recursion here is nesting, so it is capped.
                self.enter()?;
                let r = self.binary(prec);
                self.leave();
                r?
            } else {
                self.binary(prec + 1)?
            };
            l = match op {
                None => self.combine(|a, b| ExprKind::Logic(sym == "&&", a, b), l, r)?,
                Some(op) => self.combine(|a, b| ExprKind::Binary(op, a, b), l, r)?,
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let t = self.peek().clone();
        if t.tok == Tok::Ident("delete".into()) {
            self.next();
            self.enter()?;
            let target = self.unary();
            self.leave();
            let target = target?;
            if !matches!(target.kind, ExprKind::Member(..) | ExprKind::Index(..)) {
                return Err(SyntaxError::new(
                    target.pos,
                    "`delete` needs `x.field` or `x[i]`",
                ));
            }
            let d = target.depth;
            return self.node(ExprKind::Delete(Box::new(target)), t.pos, d);
        }
        let op = match t.tok {
            Tok::Punct("!") => Some(UnOp::Not),
            Tok::Punct("-") => Some(UnOp::Neg),
            Tok::Punct("+") => Some(UnOp::Plus),
            _ => None,
        };
        if let Some(op) = op {
            self.next();
            self.enter()?;
            let inner = self.unary();
            self.leave();
            let inner = inner?;
            // Fold negative literals so `-5` is a plain number.
            if op == UnOp::Neg {
                match &inner.kind {
                    ExprKind::Lit(Value::Number(n))
                        if n.as_i64().is_some_and(|i| i != i64::MIN) =>
                    {
                        let v = Value::from(-n.as_i64().unwrap_or_default());
                        return Ok(Expr {
                            kind: ExprKind::Lit(v),
                            pos: t.pos,
                            depth: 1,
                        });
                    }
                    _ => {}
                }
            }
            let d = inner.depth;
            return self.node(ExprKind::Unary(op, Box::new(inner)), t.pos, d);
        }
        if matches!(t.tok, Tok::Punct("++") | Tok::Punct("--")) {
            self.next();
            let target = self.postfix()?;
            if !target.kind.is_place() {
                return Err(SyntaxError::new(
                    target.pos,
                    "`++`/`--` need a variable, `x.field` or `x[i]`",
                ));
            }
            let step = if t.tok == Tok::Punct("++") { 1 } else { -1 };
            let d = target.depth;
            return self.node(ExprKind::Update(step, true, Box::new(target)), t.pos, d);
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.primary()?;
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::Punct(".") => {
                    self.next();
                    let (name, _) = self.ident("a field name after `.`")?;
                    if self.is("(") {
                        let args = self.call_args()?;
                        let pos = e.pos;
                        let depth =
                            1 + args.iter().map(|a| a.depth).max().unwrap_or(0).max(e.depth);
                        self.depth_ok(pos, depth)?;
                        e = Expr {
                            kind: ExprKind::Method(Box::new(e), name, args),
                            pos,
                            depth,
                        };
                    } else {
                        let pos = e.pos;
                        let d = e.depth;
                        e = self.node(ExprKind::Member(Box::new(e), name), pos, d)?;
                    }
                }
                Tok::Punct("@.") => {
                    self.next();
                    let (name, _) = self.ident("a field name after `@.`")?;
                    let pos = e.pos;
                    let d = e.depth;
                    e = self.node(ExprKind::Pluck(Box::new(e), name), pos, d)?;
                }
                Tok::Punct("[") => {
                    self.next();
                    let idx = self.expr()?;
                    self.expect("]")?;
                    e = self.combine(ExprKind::Index, e, idx)?;
                }
                Tok::Punct("(") => {
                    if let ExprKind::Var(name) = &e.kind {
                        if FUNCTIONS.contains(&name.as_str()) {
                            let name = name.clone();
                            let args = self.call_args()?;
                            let depth = 1 + args.iter().map(|a| a.depth).max().unwrap_or(0);
                            self.depth_ok(e.pos, depth)?;
                            e = Expr {
                                kind: ExprKind::Func(name, args),
                                pos: e.pos,
                                depth,
                            };
                            continue;
                        }
                    }
                    let what = match &e.kind {
                        ExprKind::Var(n) => format!("`{n}`"),
                        _ => "this expression".into(),
                    };
                    return Err(SyntaxError::new(t.pos, format!("{what} cannot be called: only API.section.method(...) and array/string methods such as .push(...) are calls")));
                }
                Tok::Punct("++") | Tok::Punct("--") if !t.nl_before && e.kind.is_place() => {
                    self.next();
                    let step = if t.tok == Tok::Punct("++") { 1 } else { -1 };
                    let pos = e.pos;
                    let d = e.depth;
                    e = self.node(ExprKind::Update(step, false, Box::new(e)), pos, d)?;
                }
                _ => return Ok(e),
            }
        }
    }

    /// `( a, b, … )` after a method name.
    fn call_args(&mut self) -> Result<Vec<Expr>, SyntaxError> {
        self.expect("(")?;
        let mut args = Vec::new();
        while !self.is(")") {
            args.push(self.expr()?);
            if !self.eat(",") {
                break;
            }
        }
        self.expect(")")?;
        Ok(args)
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let t = self.next();
        let pos = t.pos;
        let lit = |v: Value| {
            Ok(Expr {
                kind: ExprKind::Lit(v),
                pos,
                depth: 1,
            })
        };
        match t.tok {
            Tok::Int(n) => lit(Value::from(n)),
            Tok::Float(f) => lit(super::interp::number(f)),
            Tok::Str(s) => lit(Value::String(s)),
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Punct("[") => {
                self.enter()?;
                let r = self.array_rest(pos);
                self.leave();
                r
            }
            Tok::Punct("{") => {
                self.enter()?;
                let r = self.object_rest(pos);
                self.leave();
                r
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => lit(Value::Bool(true)),
                "false" => lit(Value::Bool(false)),
                "null" | "undefined" => lit(Value::Null),
                "API" => self.api_call(pos),
                "var" | "return" | "if" | "else" | "while" | "break" | "continue" | "function"
                | "for" | "do" | "new" | "this" => Err(SyntaxError::new(
                    pos,
                    format!("`{name}` cannot be used inside an expression"),
                )),
                _ => Ok(Expr {
                    kind: ExprKind::Var(name),
                    pos,
                    depth: 1,
                }),
            },
            other => Err(SyntaxError::new(
                pos,
                format!("expected an expression but found {}", describe(&other)),
            )),
        }
    }

    fn array_rest(&mut self, pos: usize) -> Result<Expr, SyntaxError> {
        let mut items = Vec::new();
        loop {
            if self.eat("]") {
                break;
            }
            items.push(self.expr()?);
            if !self.eat(",") {
                self.expect("]")?;
                break;
            }
        }
        let depth = 1 + items.iter().map(|e| e.depth).max().unwrap_or(0);
        self.depth_ok(pos, depth)?;
        Ok(Expr {
            kind: ExprKind::Array(items),
            pos,
            depth,
        })
    }

    fn object_rest(&mut self, pos: usize) -> Result<Expr, SyntaxError> {
        let mut fields: Vec<(String, Expr)> = Vec::new();
        loop {
            if self.eat("}") {
                break;
            }
            let key = match &self.peek().tok {
                Tok::Ident(s) | Tok::Str(s) => s.clone(),
                Tok::Int(n) => n.to_string(),
                Tok::Float(f) => super::interp::to_text(&super::interp::number(*f)),
                _ => return Err(self.err_here("a key (a name, a string or a number)")),
            };
            self.next();
            self.expect(":")?;
            let value = self.expr()?;
            // A repeated key keeps its first position and takes the last value, as in JavaScript.
            fields.push((key, value));
            if !self.eat(",") {
                self.expect("}")?;
                break;
            }
        }
        let depth = 1 + fields.iter().map(|(_, e)| e.depth).max().unwrap_or(0);
        self.depth_ok(pos, depth)?;
        Ok(Expr {
            kind: ExprKind::Object(fields),
            pos,
            depth,
        })
    }

    /// After `API`: `.section.method(arg?)`.
    fn api_call(&mut self, pos: usize) -> Result<Expr, SyntaxError> {
        const SHAPE: &str = "API methods are called as API.section.method({...})";
        if !self.eat(".") {
            return Err(SyntaxError::new(pos, SHAPE));
        }
        let (section, _) = self
            .ident("a section name after `API.`")
            .map_err(|e| SyntaxError::new(e.pos, format!("{}; {SHAPE}", e.message)))?;
        if !self.eat(".") {
            return Err(SyntaxError::new(
                self.peek().pos,
                format!("expected `.method` after `API.{section}`; {SHAPE}"),
            ));
        }
        let (method, _) = self
            .ident("a method name")
            .map_err(|e| SyntaxError::new(e.pos, format!("{}; {SHAPE}", e.message)))?;
        if !self.is("(") {
            return Err(SyntaxError::new(
                self.peek().pos,
                format!("expected `(` after `API.{section}.{method}`; {SHAPE}"),
            ));
        }
        let open = self.peek().pos;
        let mut args = self.call_args()?;
        if args.len() > 1 {
            return Err(SyntaxError::new(
                open,
                format!(
                    "API.{section}.{method} takes one object of parameters, not {}",
                    args.len()
                ),
            ));
        }
        let arg = args.pop();
        let depth = 1 + arg.as_ref().map(|a| a.depth).unwrap_or(0);
        self.depth_ok(pos, depth)?;
        Ok(Expr {
            kind: ExprKind::Api(format!("{section}.{method}"), arg.map(Box::new)),
            pos,
            depth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    #[test]
    fn parses_what_vk_clients_send() {
        for src in [
            r#"return [API.users.get({"user_ids":1}),API.utils.getServerTime({}),API.friends.get({"user_id":2})];"#,
            "var values = [1,2,3], i = 0, result = []; while(i < values.length) { result.push(API.users.get(values[i])); i = i + 1; } return result;",
            "var users = API.users.get({user_ids: Args.ids});\nvar groups = API.groups.getById({group_ids: Args.gids});\n\nreturn {\n  users: users,\n  groups: groups\n};",
            "return API.friends.get({})@.id",
            "var a = 'x'\nvar b = \"y\"\nreturn a + b",
            "if (1 > 2) { return 1; } else if (2 > 1) return 2; else { return 3 }",
        ] {
            parse(src).unwrap_or_else(|e| panic!("{}\n{src}", e.render(src)));
        }
    }

    #[test]
    fn errors_name_the_position_and_the_problem() {
        let src = "var a = 1;\nreturn [a,;";
        let e = parse(src).unwrap_err();
        assert_eq!(
            e.render(src),
            "Syntax error at line 2, column 11: expected an expression but found `;`"
        );
        let e = parse("return 1 2;").unwrap_err();
        assert!(e.message.contains("expected `;`"), "{e}");
        assert!(parse("break;")
            .unwrap_err()
            .message
            .contains("inside a `while`"));
        assert!(parse("API.users();")
            .unwrap_err()
            .message
            .contains("API.section.method"));
        assert!(parse("foo(1)")
            .unwrap_err()
            .message
            .contains("cannot be called"));
        assert!(parse("1 = 2").is_err());
        assert!(parse("var if = 1").is_err());
    }

    #[test]
    fn nesting_and_chains_are_capped() {
        let deep = format!(
            "return {}1{};",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        assert!(parse(&deep)
            .unwrap_err()
            .message
            .contains("nested too deeply"));
        let chain = format!("return 1{};", "+1".repeat(MAX_EXPR_DEPTH as usize + 1));
        assert!(parse(&chain)
            .unwrap_err()
            .message
            .contains("too deeply nested"));
        let ok = format!("return 1{};", "+1".repeat(MAX_EXPR_DEPTH as usize - 2));
        parse(&ok).unwrap();
        let blocks = format!(
            "{}{}",
            "{".repeat(MAX_NESTING + 1),
            "}".repeat(MAX_NESTING + 1)
        );
        assert!(parse(&blocks).is_err());
        assert!(parse(&"!".repeat(10_000)).is_err());
    }

    #[test]
    fn negative_literals_fold() {
        let p = parse("return -5;").unwrap();
        assert_eq!(
            p.body,
            vec![Stmt::Return(Some(Expr {
                kind: ExprKind::Lit(Value::from(-5)),
                pos: 7,
                depth: 1
            }))]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics_and_finishes_quickly(src in "\\PC{0,400}") {
            let t = Instant::now();
            let _ = parse(&src);
            prop_assert!(t.elapsed() < Duration::from_secs(1));
        }

        #[test]
        fn token_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
            "var", "a", "=", "(", ")", "[", "]", "{", "}",
            ",", ";", ".", "@.", "API", "users", "get", "while",
            "if", "else", "return", "1", "'s'", "+", "!", "?",
            ":", "\n", "++", "break", "push", "-", "\"\\u12", "/*",
        ]), 0..200)) {
            let src = parts.join(" ");
            let t = Instant::now();
            let _ = parse(&src);
            prop_assert!(t.elapsed() < Duration::from_secs(1));
        }
    }
}
