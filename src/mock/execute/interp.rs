//! The VKScript interpreter: walks the AST with JavaScript-like values
//! (`serde_json::Value`), calls the API through a host callback, and keeps
//! every resource bounded by [`Limits`] (API calls, loop iterations,
//! operations, bytes built, value nesting).

use super::parser::{line_col, parse, BinOp, Expr, ExprKind, Stmt, UnOp};
use crate::vk::{codes, ApiError, WireParams};
use serde_json::{json, Map, Number, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// Deepest nesting of arrays and objects a script may build.
pub const MAX_VALUE_DEPTH: usize = 64;

/// What one `execute` may use. [`Limits::default`] is VK's call limit plus
/// bounds that keep the mock safe.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// API calls per execute (VK: 25); one more is runtime error 13.
    pub max_calls: usize,
    /// Loop iterations per execute, all loops together.
    pub max_iterations: usize,
    /// Evaluation steps (statements and expression nodes) per execute.
    pub max_steps: u64,
    /// Bytes of values built or copied per execute (approximate, cumulative).
    pub max_alloc: u64,
    /// Size of the source code in bytes; more is error 12.
    pub max_code_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_calls: 25,
            max_iterations: 10_000,
            max_steps: 2_000_000,
            max_alloc: 32 * 1024 * 1024,
            max_code_bytes: 64 * 1024,
        }
    }
}

/// One failed inner call, as listed in `execute_errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteError {
    /// The method as written in the code (`users.get`).
    pub method: String,
    /// Its `error_code`.
    pub error_code: i64,
    /// Its `error_msg`.
    pub error_msg: String,
}

impl ExecuteError {
    /// `{"method", "error_code", "error_msg"}`.
    pub fn to_json(&self) -> Value {
        json!({"method": self.method, "error_code": self.error_code, "error_msg": self.error_msg})
    }
}

/// What a script produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The value of `return` (`null` when the code returns nothing).
    pub response: Value,
    /// Failed inner calls in call order (each left `false` in its place).
    pub errors: Vec<ExecuteError>,
}

impl Outcome {
    /// The `/method/execute` body: `{"response": …}` plus `execute_errors` when some call failed.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("response".into(), self.response.clone());
        if !self.errors.is_empty() {
            m.insert(
                "execute_errors".into(),
                Value::Array(self.errors.iter().map(ExecuteError::to_json).collect()),
            );
        }
        Value::Object(m)
    }
}

/// Runs VKScript `src` with `Args` bound to `args`. `host` answers each
/// `API.section.method(...)` (method as written, parameters on the wire).
///
/// A syntax error is error 12, a runtime error (or a limit) is error 13, and
/// an inner call answered with a captcha (14) becomes the whole answer.
///
/// ```
/// use vkconform::mock::execute::{run, Limits};
/// use serde_json::json;
/// let mut host = |method: &str, _p: vkconform::vk::WireParams| Ok(json!(method));
/// let out = run("return [API.users.get({}), Args.x + 1];", json!({"x": "1"}).as_object().unwrap().clone(), &Limits::default(), &mut host).unwrap();
/// assert_eq!(out.response, json!(["users.get", "11"]));
/// ```
pub fn run(
    src: &str,
    args: Map<String, Value>,
    limits: &Limits,
    host: &mut Host<'_>,
) -> Result<Outcome, ApiError> {
    // Parsing and evaluation recurse up to the nesting caps; unoptimised
    // builds need several MiB for that, more than a tokio worker has.
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("vkscript".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || run_here(src, args, limits, host));
        match spawned {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(ApiError::new(
                    codes::EXECUTE_RUNTIME,
                    "Runtime error: the interpreter stopped unexpectedly",
                ))
            }),
            Err(e) => Err(ApiError::new(
                codes::UNKNOWN,
                format!("Unknown error occurred: cannot start the VKScript interpreter: {e}"),
            )),
        }
    })
}

/// The callback that answers `API.section.method(...)`: the method as written and its parameters on the wire.
pub type Host<'a> = dyn FnMut(&str, WireParams) -> Result<Value, ApiError> + Send + 'a;

/// Stack of the interpreter thread (reserved, not committed, until used).
pub const STACK_BYTES: usize = 32 * 1024 * 1024;

fn run_here(
    src: &str,
    args: Map<String, Value>,
    limits: &Limits,
    host: &mut Host<'_>,
) -> Result<Outcome, ApiError> {
    if src.len() > limits.max_code_bytes {
        return Err(ApiError::new(
            codes::EXECUTE_COMPILE,
            format!(
                "Syntax error: the code is {} bytes long; the limit is {} bytes",
                src.len(),
                limits.max_code_bytes
            ),
        ));
    }
    let program = parse(src).map_err(|e| ApiError::new(codes::EXECUTE_COMPILE, e.render(src)))?;
    let mut vars = HashMap::new();
    vars.insert("Args".to_string(), Value::Object(args));
    let mut it = Interp {
        vars,
        host,
        limits,
        calls: 0,
        iterations: 0,
        steps: 0,
        alloc: 0,
        errors: Vec::new(),
    };
    let response = match it.block(&program.body) {
        Ok(Flow::Return(v)) => v,
        Ok(_) => Value::Null,
        Err(Fail::Abort(e)) => return Err(e),
        Err(Fail::Runtime(pos, msg)) => {
            let (line, col) = line_col(src, pos);
            return Err(ApiError::new(
                codes::EXECUTE_RUNTIME,
                format!("Runtime error: {msg} (line {line}, column {col})"),
            ));
        }
    };
    Ok(Outcome {
        response,
        errors: it.errors,
    })
}

enum Fail {
    /// Error 13 at a byte offset.
    Runtime(usize, String),
    /// An inner error that ends the whole execute (captcha).
    Abort(ApiError),
}

type R<T> = Result<T, Fail>;

fn rt<T>(pos: usize, msg: impl Into<String>) -> R<T> {
    Err(Fail::Runtime(pos, msg.into()))
}

enum Flow {
    Next,
    Break,
    Continue,
    Return(Value),
}

/// One step of a path: `.field`, `[index]` or `@.field`.
enum Key {
    Field(String),
    Index(Value, usize),
    Pluck(String),
}

/// Where a path starts: a variable, or a value computed on the spot.
enum Root {
    Var(String, usize),
    Value(Value),
}

struct Interp<'a> {
    vars: HashMap<String, Value>,
    host: &'a mut Host<'a>,
    limits: &'a Limits,
    calls: usize,
    iterations: usize,
    steps: u64,
    alloc: u64,
    errors: Vec<ExecuteError>,
}

impl Interp<'_> {
    fn tick(&mut self, pos: usize) -> R<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return rt(
                pos,
                format!(
                    "the code runs too long (more than {} operations)",
                    self.limits.max_steps
                ),
            );
        }
        Ok(())
    }

    fn charge(&mut self, weight: u64, pos: usize) -> R<()> {
        self.alloc = self.alloc.saturating_add(weight);
        if self.alloc > self.limits.max_alloc {
            return rt(pos, self.too_much());
        }
        Ok(())
    }

    fn too_much(&self) -> String {
        format!(
            "the code builds or copies too much data (more than {} bytes)",
            self.limits.max_alloc
        )
    }

    fn budget(&self) -> u64 {
        self.limits.max_alloc.saturating_sub(self.alloc)
    }

    /// Charges a value about to be stored `extra` levels deep and checks its nesting.
    fn admit(&mut self, v: &Value, extra: usize, pos: usize) -> R<()> {
        let (w, d) = measure(v, self.budget());
        self.charge(w, pos)?;
        if d + extra > MAX_VALUE_DEPTH {
            return rt(pos, format!("the value is nested too deeply (more than {MAX_VALUE_DEPTH} levels of arrays and objects)"));
        }
        Ok(())
    }

    fn block(&mut self, stmts: &[Stmt]) -> R<Flow> {
        for s in stmts {
            match self.stmt(s)? {
                Flow::Next => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Next)
    }

    fn stmt(&mut self, s: &Stmt) -> R<Flow> {
        match s {
            Stmt::Var(decls) => {
                for (name, init) in decls {
                    match init {
                        Some(e) => {
                            let v = self.eval(e)?;
                            self.admit(&v, 0, e.pos)?;
                            self.vars.insert(name.clone(), v);
                        }
                        // `var a;` keeps an existing value, as in JavaScript.
                        None => {
                            self.vars.entry(name.clone()).or_insert(Value::Null);
                        }
                    }
                }
                Ok(Flow::Next)
            }
            Stmt::Expr(e) => {
                self.eval(e)?;
                Ok(Flow::Next)
            }
            Stmt::Return(e) => Ok(Flow::Return(match e {
                Some(e) => self.eval(e)?,
                None => Value::Null,
            })),
            Stmt::If(c, then, otherwise) => {
                if truthy(&self.eval(c)?) {
                    self.stmt(then)
                } else if let Some(o) = otherwise {
                    self.stmt(o)
                } else {
                    Ok(Flow::Next)
                }
            }
            Stmt::While(c, body) => loop {
                if !truthy(&self.eval(c)?) {
                    return Ok(Flow::Next);
                }
                self.iterations += 1;
                if self.iterations > self.limits.max_iterations {
                    return rt(
                        c.pos,
                        format!(
                            "too many loop iterations (more than {} per execute)",
                            self.limits.max_iterations
                        ),
                    );
                }
                match self.stmt(body)? {
                    Flow::Break => return Ok(Flow::Next),
                    Flow::Return(v) => return Ok(Flow::Return(v)),
                    Flow::Next | Flow::Continue => {}
                }
            },
            Stmt::Block(b) => self.block(b),
            Stmt::Break => Ok(Flow::Break),
            Stmt::Continue => Ok(Flow::Continue),
        }
    }

    /// Evaluates an expression. Each kind's work lives in its own function so
    /// this frame, which recursion stacks up, stays small.
    fn eval(&mut self, e: &Expr) -> R<Value> {
        self.tick(e.pos)?;
        let pos = e.pos;
        match &e.kind {
            ExprKind::Lit(v) => self.literal(v, pos),
            ExprKind::Array(items) => self.array(items),
            ExprKind::Object(fields) => self.object(fields),
            ExprKind::Var(_) | ExprKind::Member(..) | ExprKind::Index(..) | ExprKind::Pluck(..) => {
                self.place(e)
            }
            ExprKind::Api(method, arg) => self.api(method, arg.as_deref(), pos),
            ExprKind::Method(recv, name, args) => self.method(recv, name, args, pos),
            ExprKind::Unary(op, x) => self.unary(*op, x, pos),
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, pos),
            ExprKind::Logic(and, l, r) => self.logic(*and, l, r),
            ExprKind::Cond(c, a, b) => self.cond(c, a, b),
            ExprKind::Assign(op, target, value) => self.assign(*op, target, value, pos),
            ExprKind::Update(step, prefix, target) => self.update(*step, *prefix, target, pos),
            ExprKind::Func(name, args) => self.func(name, args),
            ExprKind::Delete(target) => self.delete(target, pos),
        }
    }

    fn func(&mut self, name: &str, args: &[Expr]) -> R<Value> {
        let mut first = Value::Null;
        for (i, a) in args.iter().enumerate() {
            let v = self.eval(a)?;
            if i == 0 {
                first = v;
            }
        }
        let text = to_text(&first);
        Ok(match name {
            "parseInt" => number(parse_int_prefix(&text)),
            _ => number(parse_float_prefix(&text)),
        })
    }

    /// `delete x.f` / `delete x[i]`: removes an object key; an array element becomes `null`.
    fn delete(&mut self, target: &Expr, pos: usize) -> R<Value> {
        let (root, mut keys) = self.path(target)?;
        let (Root::Var(name, _), Some(last)) = (root, keys.pop()) else {
            return Ok(Value::Bool(true));
        };
        let Some(mut cur) = self.vars.get_mut(&name) else {
            return Ok(Value::Bool(true));
        };
        for k in &keys {
            match step_mut(cur, k, &name, pos) {
                Ok(next) => cur = next,
                Err(_) => return Ok(Value::Bool(true)),
            }
        }
        match (cur, &last) {
            (Value::Object(m), Key::Field(f)) => {
                m.shift_remove(f.as_str());
            }
            (Value::Object(m), Key::Index(i, ipos)) => {
                let k = object_key(i, *ipos)?;
                m.shift_remove(k.as_str());
            }
            (Value::Array(a), Key::Index(i, ipos)) => {
                let n = array_index(i, *ipos)?;
                if let Some(x) = a.get_mut(n) {
                    *x = Value::Null;
                }
            }
            _ => {}
        }
        Ok(Value::Bool(true))
    }

    fn literal(&mut self, v: &Value, pos: usize) -> R<Value> {
        if let Value::String(s) = v {
            self.charge(s.len() as u64 + 16, pos)?;
        }
        Ok(v.clone())
    }

    fn array(&mut self, items: &[Expr]) -> R<Value> {
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            let v = self.eval(i)?;
            self.admit(&v, 1, i.pos)?;
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn object(&mut self, fields: &[(String, Expr)]) -> R<Value> {
        let mut out = Map::new();
        for (k, x) in fields {
            let v = self.eval(x)?;
            self.admit(&v, 1, x.pos)?;
            self.charge(k.len() as u64 + 16, x.pos)?;
            out.insert(k.clone(), v);
        }
        Ok(Value::Object(out))
    }

    fn place(&mut self, e: &Expr) -> R<Value> {
        let (root, keys) = self.path(e)?;
        self.read(&root, &keys)
    }

    fn unary(&mut self, op: UnOp, x: &Expr, pos: usize) -> R<Value> {
        let v = self.eval(x)?;
        match op {
            UnOp::Not => Ok(Value::Bool(!truthy(&v))),
            UnOp::Neg => Ok(number(-to_number(&v, "-", pos)?)),
            UnOp::Plus => Ok(number(to_number(&v, "+", pos)?)),
        }
    }

    fn binary(&mut self, op: BinOp, l: &Expr, r: &Expr, pos: usize) -> R<Value> {
        let a = self.eval(l)?;
        let b = self.eval(r)?;
        let v = binary(op, &a, &b, pos)?;
        if let Value::String(s) = &v {
            self.charge(s.len() as u64 + 16, pos)?;
        }
        Ok(v)
    }

    fn logic(&mut self, and: bool, l: &Expr, r: &Expr) -> R<Value> {
        let a = self.eval(l)?;
        if truthy(&a) == and {
            self.eval(r)
        } else {
            Ok(a)
        }
    }

    fn cond(&mut self, c: &Expr, a: &Expr, b: &Expr) -> R<Value> {
        if truthy(&self.eval(c)?) {
            self.eval(a)
        } else {
            self.eval(b)
        }
    }

    fn assign(&mut self, op: Option<BinOp>, target: &Expr, value: &Expr, pos: usize) -> R<Value> {
        if let (None, ExprKind::Var(name)) = (op, &target.kind) {
            // `x = v` may introduce a variable, as in JavaScript.
            let v = self.eval(value)?;
            self.write(
                Root::Var(name.clone(), target.pos),
                Vec::new(),
                v.clone(),
                pos,
            )?;
            return Ok(v);
        }
        let (root, keys) = self.path(target)?;
        let v = self.eval(value)?;
        let v = match op {
            None => v,
            Some(op) => {
                let cur = self.read(&root, &keys)?;
                binary(op, &cur, &v, pos)?
            }
        };
        self.write(root, keys, v.clone(), pos)?;
        Ok(v)
    }

    fn update(&mut self, step: i64, prefix: bool, target: &Expr, pos: usize) -> R<Value> {
        let (root, keys) = self.path(target)?;
        let cur = self.read(&root, &keys)?;
        let old = to_number(&cur, if step > 0 { "++" } else { "--" }, pos)?;
        let new = number(old + step as f64);
        self.write(root, keys, new.clone(), pos)?;
        Ok(if prefix { new } else { number(old) })
    }

    /// Splits a place expression into its root and keys (evaluating indexes left to right).
    fn path(&mut self, e: &Expr) -> R<(Root, Vec<Key>)> {
        match &e.kind {
            ExprKind::Var(name) => {
                if !self.vars.contains_key(name) {
                    return rt(
                        e.pos,
                        format!("unknown variable `{name}` (declare it with `var {name} = ...;`)"),
                    );
                }
                Ok((Root::Var(name.clone(), e.pos), Vec::new()))
            }
            ExprKind::Member(base, field) => {
                let (root, mut keys) = self.path(base)?;
                keys.push(Key::Field(field.clone()));
                Ok((root, keys))
            }
            ExprKind::Index(base, idx) => {
                let (root, mut keys) = self.path(base)?;
                let k = self.eval(idx)?;
                keys.push(Key::Index(k, idx.pos));
                Ok((root, keys))
            }
            ExprKind::Pluck(base, field) => {
                let (root, mut keys) = self.path(base)?;
                keys.push(Key::Pluck(field.clone()));
                Ok((root, keys))
            }
            _ => Ok((Root::Value(self.eval(e)?), Vec::new())),
        }
    }

    /// The value at a path (copied, and charged when it comes out of a variable).
    fn read(&mut self, root: &Root, keys: &[Key]) -> R<Value> {
        match root {
            Root::Var(name, pos) => {
                let Some(v) = self.vars.get(name) else {
                    return rt(*pos, format!("unknown variable `{name}`"));
                };
                let got = navigate(Cow::Borrowed(v), keys)?;
                let (w, _) = measure(&got, self.budget());
                if self.alloc.saturating_add(w) > self.limits.max_alloc {
                    return rt(*pos, self.too_much());
                }
                let owned = got.into_owned();
                self.alloc += w;
                Ok(owned)
            }
            Root::Value(v) => Ok(navigate(Cow::Borrowed(v), keys)?.into_owned()),
        }
    }

    /// Stores `v` at a path. Writing into a computed value has no lasting effect (as in JavaScript).
    fn write(&mut self, root: Root, mut keys: Vec<Key>, v: Value, pos: usize) -> R<()> {
        self.admit(&v, keys.len(), pos)?;
        let Root::Var(name, vpos) = root else {
            return Ok(());
        };
        let Some(last) = keys.pop() else {
            self.vars.insert(name, v);
            return Ok(());
        };
        let Some(mut cur) = self.vars.get_mut(&name) else {
            return rt(vpos, format!("unknown variable `{name}`"));
        };
        let mut shown = name.clone();
        for k in &keys {
            cur = step_mut(cur, k, &shown, pos)?;
            shown.push_str(&show_key(k));
        }
        let fill = set(cur, &last, v, &shown, pos)?;
        self.charge(fill * 16, pos)
    }

    fn api(&mut self, method: &str, arg: Option<&Expr>, pos: usize) -> R<Value> {
        let params = match arg {
            None => Map::new(),
            Some(a) => match self.eval(a)? {
                Value::Object(m) => m,
                Value::Null => Map::new(),
                other => {
                    return rt(
                        a.pos,
                        format!(
                            "API.{method} takes an object of parameters, not {}",
                            kind(&other)
                        ),
                    )
                }
            },
        };
        self.calls += 1;
        if self.calls > self.limits.max_calls {
            return rt(
                pos,
                format!(
                    "Too many API calls (at most {} per execute)",
                    self.limits.max_calls
                ),
            );
        }
        match (self.host)(method, to_wire(&params)) {
            Ok(v) => {
                let (w, _) = measure(&v, self.budget());
                self.charge(w, pos)?;
                Ok(v)
            }
            Err(e) if e.code == codes::CAPTCHA => Err(Fail::Abort(e)),
            Err(e) => {
                self.errors.push(ExecuteError {
                    method: method.to_string(),
                    error_code: e.code,
                    error_msg: e.msg,
                });
                Ok(Value::Bool(false))
            }
        }
    }

    fn method(&mut self, recv: &Expr, name: &str, args: &[Expr], pos: usize) -> R<Value> {
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(a)?);
        }
        match name {
            "push" | "pop" | "shift" | "unshift" | "splice" | "sort" | "reverse" => {
                let (root, keys) = self.path(recv)?;
                for v in &vals {
                    self.admit(v, keys.len() + 1, pos)?;
                }
                let budget = self.budget();
                let mut temp;
                let target: &mut Value = match root {
                    Root::Value(v) => {
                        temp = navigate(Cow::Owned(v), &keys)?.into_owned();
                        &mut temp
                    }
                    Root::Var(var, vpos) => {
                        let Some(mut cur) = self.vars.get_mut(&var) else {
                            return rt(vpos, format!("unknown variable `{var}`"));
                        };
                        let mut shown = var.clone();
                        for k in &keys {
                            cur = step_mut(cur, k, &shown, pos)?;
                            shown.push_str(&show_key(k));
                        }
                        cur
                    }
                };
                let Value::Array(arr) = target else {
                    return rt(
                        pos,
                        format!("`.{name}()` needs an array, not {}", kind(target)),
                    );
                };
                let out = mutate(arr, name, vals, pos)?;
                let (w, _) = measure(&out, budget);
                self.charge(w, pos)?;
                Ok(out)
            }
            _ => {
                let v = self.eval(recv)?;
                let out = pure_method(&v, name, &vals, pos)?;
                let (w, _) = measure(&out, self.budget());
                self.charge(w, pos)?;
                Ok(out)
            }
        }
    }
}

fn show_key(k: &Key) -> String {
    match k {
        Key::Field(f) => format!(".{f}"),
        Key::Index(v, _) => format!("[{}]", clip(&v.to_string())),
        Key::Pluck(f) => format!("@.{f}"),
    }
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(30).collect();
    if s.chars().count() > 30 {
        out.push('…');
    }
    out
}

/// Follows keys for reading: missing fields and out-of-range indexes are `null`,
/// and so is any field of `null`/`false`/a number (what a failed call leaves).
fn navigate<'v>(mut cur: Cow<'v, Value>, keys: &[Key]) -> R<Cow<'v, Value>> {
    for k in keys {
        cur = match cur {
            Cow::Borrowed(v) => step(v, k)?,
            Cow::Owned(v) => Cow::Owned(step(&v, k)?.into_owned()),
        };
    }
    Ok(cur)
}

fn step<'v>(v: &'v Value, k: &Key) -> R<Cow<'v, Value>> {
    const NULL: Value = Value::Null;
    match k {
        Key::Field(f) => Ok(field(v, f)),
        Key::Index(i, pos) => match i {
            Value::String(s) => Ok(field(v, s)),
            Value::Number(_) => {
                let n = i.as_f64().unwrap_or(f64::NAN);
                match v {
                    Value::Array(a) => Ok(index_of(n, a.len())
                        .and_then(|i| a.get(i))
                        .map(Cow::Borrowed)
                        .unwrap_or(Cow::Owned(NULL))),
                    Value::String(s) => Ok(index_of(n, usize::MAX)
                        .and_then(|i| s.chars().nth(i))
                        .map(|c| Cow::Owned(Value::String(c.to_string())))
                        .unwrap_or(Cow::Owned(NULL))),
                    Value::Object(m) => Ok(m
                        .get(&to_text(i))
                        .map(Cow::Borrowed)
                        .unwrap_or(Cow::Owned(NULL))),
                    _ => Ok(Cow::Owned(NULL)),
                }
            }
            other => rt(
                *pos,
                format!(
                    "bad index: {} cannot index a value (use a number or a string)",
                    kind(other)
                ),
            ),
        },
        Key::Pluck(f) => match v {
            Value::Array(a) => Ok(Cow::Owned(Value::Array(
                a.iter().map(|x| field(x, f).into_owned()).collect(),
            ))),
            _ => Ok(Cow::Owned(NULL)),
        },
    }
}

fn field<'v>(v: &'v Value, f: &str) -> Cow<'v, Value> {
    match v {
        Value::Object(m) => m
            .get(f)
            .map(Cow::Borrowed)
            .unwrap_or(Cow::Owned(Value::Null)),
        Value::Array(a) if f == "length" => Cow::Owned(Value::from(a.len())),
        Value::Array(a) => match f.parse::<usize>() {
            Ok(i) if f == i.to_string() => a
                .get(i)
                .map(Cow::Borrowed)
                .unwrap_or(Cow::Owned(Value::Null)),
            _ => Cow::Owned(Value::Null),
        },
        Value::String(s) if f == "length" => Cow::Owned(Value::from(s.chars().count())),
        _ => Cow::Owned(Value::Null),
    }
}

/// A non-negative integral index below `len`.
fn index_of(n: f64, len: usize) -> Option<usize> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n < len as f64 && n < 1e15 {
        Some(n as usize)
    } else {
        None
    }
}

/// Follows one key for writing; the container must exist.
fn step_mut<'v>(v: &'v mut Value, k: &Key, shown: &str, pos: usize) -> R<&'v mut Value> {
    let what = kind(v);
    match (v, k) {
        (Value::Object(m), Key::Field(f)) => match m.get_mut(f) {
            Some(x) => Ok(x),
            None => rt(
                pos,
                format!("cannot change `{shown}.{f}`: it does not exist"),
            ),
        },
        (Value::Object(m), Key::Index(i, ipos)) => {
            let key = object_key(i, *ipos)?;
            match m.get_mut(&key) {
                Some(x) => Ok(x),
                None => rt(
                    pos,
                    format!("cannot change `{shown}[{}]`: it does not exist", clip(&key)),
                ),
            }
        }
        (Value::Array(a), Key::Index(i, ipos)) => {
            let len = a.len();
            let n = array_index(i, *ipos)?;
            match a.get_mut(n) {
                Some(x) => Ok(x),
                None => rt(
                    pos,
                    format!("cannot change `{shown}[{n}]`: the array has {len} elements"),
                ),
            }
        }
        (_, Key::Pluck(_)) => rt(pos, "cannot change values through `@.`"),
        (_, k) => rt(
            pos,
            format!(
                "cannot change `{shown}{}`: `{shown}` is {what}",
                show_key(k)
            ),
        ),
    }
}

/// Sets the last key; returns how many `null`s were added to fill an array gap.
fn set(v: &mut Value, k: &Key, new: Value, shown: &str, pos: usize) -> R<u64> {
    let what = kind(v);
    match (v, k) {
        (Value::Object(m), Key::Field(f)) => {
            m.insert(f.clone(), new);
            Ok(0)
        }
        (Value::Object(m), Key::Index(i, ipos)) => {
            m.insert(object_key(i, *ipos)?, new);
            Ok(0)
        }
        (Value::Array(a), Key::Index(i, ipos)) => {
            let n = array_index(i, *ipos)?;
            if n < a.len() {
                a[n] = new;
                return Ok(0);
            }
            const MAX_GAP: usize = 100_000;
            if n - a.len() > MAX_GAP {
                return rt(pos, format!("cannot set `{shown}[{n}]`: the array has {} elements (at most {MAX_GAP} can be skipped)", a.len()));
            }
            let fill = (n - a.len()) as u64;
            a.resize(n, Value::Null);
            a.push(new);
            Ok(fill)
        }
        (_, Key::Pluck(_)) => rt(pos, "cannot assign through `@.`"),
        (_, k) => rt(
            pos,
            format!("cannot set `{shown}{}`: `{shown}` is {what}", show_key(k)),
        ),
    }
}

fn object_key(i: &Value, pos: usize) -> R<String> {
    match i {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) => Ok(to_text(i)),
        other => rt(
            pos,
            format!("bad index: {} cannot be an object key", kind(other)),
        ),
    }
}

fn array_index(i: &Value, pos: usize) -> R<usize> {
    let n = match i {
        Value::Number(_) => i.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n < 1e15 => Ok(n as usize),
        _ => rt(
            pos,
            format!(
                "bad index: {} is not an array position (0, 1, 2, …)",
                clip(&i.to_string())
            ),
        ),
    }
}

/// `push`, `pop`, `shift`, `unshift`, `splice` on an array in place.
fn mutate(a: &mut Vec<Value>, name: &str, args: Vec<Value>, pos: usize) -> R<Value> {
    match name {
        "push" => {
            a.extend(args);
            Ok(Value::from(a.len()))
        }
        "pop" => Ok(a.pop().unwrap_or(Value::Null)),
        "sort" => {
            // Numbers by value when every element is a number, else by text (JavaScript's default).
            if a.iter().all(Value::is_number) {
                a.sort_by(|x, y| {
                    x.as_f64()
                        .partial_cmp(&y.as_f64())
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
            } else {
                a.sort_by_cached_key(to_text);
            }
            Ok(Value::Array(a.clone()))
        }
        "reverse" => {
            a.reverse();
            Ok(Value::Array(a.clone()))
        }
        "shift" => Ok(if a.is_empty() {
            Value::Null
        } else {
            a.remove(0)
        }),
        "unshift" => {
            a.splice(0..0, args);
            Ok(Value::from(a.len()))
        }
        _ => {
            let len = a.len();
            let mut it = args.into_iter();
            let start = match it.next() {
                Some(v) => rel_index(&v, len, "splice", pos)?,
                None => len,
            };
            let count = match it.next() {
                Some(v) => {
                    let n = to_number(&v, "splice", pos)?;
                    if n.is_nan() || n <= 0.0 {
                        0
                    } else {
                        (n.min(len as f64) as usize).min(len - start)
                    }
                }
                None => len - start,
            };
            let removed: Vec<Value> = a.splice(start..start + count, it).collect();
            Ok(Value::Array(removed))
        }
    }
}

/// A JavaScript-style relative position (negative counts from the end), clamped to `0..=len`.
fn rel_index(v: &Value, len: usize, what: &str, pos: usize) -> R<usize> {
    let n = to_number(v, what, pos)?;
    if n.is_nan() {
        return Ok(0);
    }
    let n = n.trunc();
    Ok(if n < 0.0 {
        (len as f64 + n).max(0.0) as usize
    } else {
        n.min(len as f64) as usize
    })
}

const METHODS: &str = "push, pop, shift, unshift, splice, sort, reverse, slice, indexOf, join, split, substr, toString";

/// Methods that do not change their receiver.
fn pure_method(v: &Value, name: &str, args: &[Value], pos: usize) -> R<Value> {
    let arg = |i: usize| args.get(i).filter(|a| !a.is_null());
    match (name, v) {
        ("slice", Value::Array(a)) => {
            let start = arg(0)
                .map(|x| rel_index(x, a.len(), name, pos))
                .transpose()?
                .unwrap_or(0);
            let end = arg(1)
                .map(|x| rel_index(x, a.len(), name, pos))
                .transpose()?
                .unwrap_or(a.len());
            Ok(Value::Array(if start < end {
                a[start..end].to_vec()
            } else {
                Vec::new()
            }))
        }
        ("slice", Value::String(s)) => {
            let chars: Vec<char> = s.chars().collect();
            let start = arg(0)
                .map(|x| rel_index(x, chars.len(), name, pos))
                .transpose()?
                .unwrap_or(0);
            let end = arg(1)
                .map(|x| rel_index(x, chars.len(), name, pos))
                .transpose()?
                .unwrap_or(chars.len());
            Ok(Value::String(if start < end {
                chars[start..end].iter().collect()
            } else {
                String::new()
            }))
        }
        ("substr", Value::String(s)) => {
            let chars: Vec<char> = s.chars().collect();
            let start = arg(0)
                .map(|x| rel_index(x, chars.len(), name, pos))
                .transpose()?
                .unwrap_or(0);
            let count = match arg(1) {
                Some(x) => {
                    let n = to_number(x, name, pos)?;
                    if n.is_nan() || n <= 0.0 {
                        0
                    } else {
                        n.min((chars.len() - start) as f64) as usize
                    }
                }
                None => chars.len() - start,
            };
            Ok(Value::String(chars[start..start + count].iter().collect()))
        }
        ("indexOf", Value::Array(a)) => {
            let needle = args.first().cloned().unwrap_or(Value::Null);
            Ok(a.iter()
                .position(|x| strict_eq(x, &needle))
                .map(Value::from)
                .unwrap_or(Value::from(-1)))
        }
        ("indexOf", Value::String(s)) => {
            let needle = args.first().map(to_text).unwrap_or_else(|| "null".into());
            Ok(s.find(&needle)
                .map(|b| Value::from(s[..b].chars().count()))
                .unwrap_or(Value::from(-1)))
        }
        ("join", Value::Array(a)) => {
            let sep = arg(0).map(to_text).unwrap_or_else(|| ",".into());
            Ok(Value::String(
                a.iter()
                    .map(|x| {
                        if x.is_null() {
                            String::new()
                        } else {
                            to_text(x)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(&sep),
            ))
        }
        ("split", Value::String(s)) => {
            let parts: Vec<Value> = match arg(0) {
                None => vec![Value::String(s.clone())],
                Some(sep) => {
                    let sep = to_text(sep);
                    if sep.is_empty() {
                        s.chars().map(|c| Value::String(c.to_string())).collect()
                    } else {
                        s.split(sep.as_str())
                            .map(|p| Value::String(p.to_string()))
                            .collect()
                    }
                }
            };
            Ok(Value::Array(parts))
        }
        ("toString", v) => Ok(Value::String(to_text(v))),
        ("slice" | "indexOf" | "join" | "split" | "substr", v) => {
            rt(pos, format!("`.{name}()` cannot be used on {}", kind(v)))
        }
        _ => rt(
            pos,
            format!("`.{name}()` is not a VKScript method (known: {METHODS})"),
        ),
    }
}

/// Parameters of an inner call as a client would send them: strings as-is,
/// numbers as text, booleans as 1/0, arrays comma-joined, objects as JSON.
pub(crate) fn to_wire(params: &Map<String, Value>) -> WireParams {
    fn one(v: &Value) -> String {
        match v {
            Value::Null => String::new(),
            Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
            Value::String(s) => s.clone(),
            Value::Number(_) => to_text(v),
            Value::Array(_) | Value::Object(_) => v.to_string(),
        }
    }
    WireParams::from_pairs(params.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| {
        let text = match v {
            Value::Array(a) => a.iter().map(one).collect::<Vec<_>>().join(","),
            other => one(other),
        };
        (k.clone(), text)
    }))
}

/// Approximate bytes of a value and its nesting depth (arrays/objects), stopping early past `cap`.
fn measure(v: &Value, cap: u64) -> (u64, usize) {
    fn go(v: &Value, cap: u64, acc: &mut u64) -> usize {
        *acc += 16;
        if *acc > cap {
            return 0;
        }
        match v {
            Value::String(s) => {
                *acc += s.len() as u64;
                0
            }
            Value::Array(a) => {
                let mut d = 0;
                for x in a {
                    d = d.max(go(x, cap, acc));
                    if *acc > cap {
                        break;
                    }
                }
                d + 1
            }
            Value::Object(m) => {
                let mut d = 0;
                for (k, x) in m {
                    *acc += k.len() as u64 + 16;
                    d = d.max(go(x, cap, acc));
                    if *acc > cap {
                        break;
                    }
                }
                d + 1
            }
            _ => 0,
        }
    }
    let mut acc = 0;
    let d = go(v, cap, &mut acc);
    (acc, d)
}

/// `null`, `a boolean`, … for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON number from an `f64`: integral values become integers; NaN and infinities become `null` (as `JSON.stringify` does).
pub(crate) fn number(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// JavaScript truthiness.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JavaScript `String(v)` (objects are `[object Object]`).
pub(crate) fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            (_, _, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                if x.is_null() {
                    String::new()
                } else {
                    to_text(x)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// JavaScript `Number(v)` for primitives; arrays and objects are a runtime error.
fn to_number(v: &Value, op: &str, pos: usize) -> R<f64> {
    match v {
        Value::Null => Ok(0.0),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Ok(str_to_number(s)),
        other => rt(pos, format!("`{op}` needs numbers, not {}", kind(other))),
    }
}

fn str_to_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16)
            .map(|n| n as f64)
            .unwrap_or(f64::NAN);
    }
    if t.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        t.parse::<f64>().unwrap_or(f64::NAN)
    } else if t == "Infinity" || t == "+Infinity" {
        f64::INFINITY
    } else if t == "-Infinity" {
        f64::NEG_INFINITY
    } else {
        f64::NAN
    }
}

fn is_primitive(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn binary(op: BinOp, a: &Value, b: &Value, pos: usize) -> R<Value> {
    let sym = op.symbol();
    match op {
        BinOp::Add => {
            // VKScript joins arrays with `+` (vkbottle's `extend` relies on it).
            if let (Value::Array(x), Value::Array(y)) = (a, b) {
                return Ok(Value::Array(x.iter().chain(y).cloned().collect()));
            }
            if matches!(a, Value::String(_))
                || matches!(b, Value::String(_))
                || !is_primitive(a)
                || !is_primitive(b)
            {
                if !is_primitive(a) && !is_primitive(b) {
                    return rt(pos, format!("`+` cannot add {} and {}", kind(a), kind(b)));
                }
                return Ok(Value::String(to_text(a) + &to_text(b)));
            }
            arith(op, a, b, pos)
        }
        BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem | BinOp::Pow => arith(op, a, b, pos),
        BinOp::Shl | BinOp::Shr | BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => {
            let x = to_int32(to_number(a, sym, pos)?);
            let y = to_int32(to_number(b, sym, pos)?);
            Ok(Value::from(match op {
                BinOp::Shl => x.wrapping_shl(y as u32 & 31),
                BinOp::Shr => x.wrapping_shr(y as u32 & 31),
                BinOp::BitAnd => x & y,
                BinOp::BitOr => x | y,
                _ => x ^ y,
            }))
        }
        BinOp::Eq => Ok(Value::Bool(loose_eq(a, b))),
        BinOp::Ne => Ok(Value::Bool(!loose_eq(a, b))),
        BinOp::StrictEq => Ok(Value::Bool(strict_eq(a, b))),
        BinOp::StrictNe => Ok(Value::Bool(!strict_eq(a, b))),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            if !is_primitive(a) || !is_primitive(b) {
                return rt(pos, format!("Comparing values of different or unsupported types: `{sym}` cannot compare {} and {}", kind(a), kind(b)));
            }
            let ord = match (a, b) {
                (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
                _ => to_number(a, sym, pos)?.partial_cmp(&to_number(b, sym, pos)?),
            };
            let Some(ord) = ord else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(match op {
                BinOp::Lt => ord.is_lt(),
                BinOp::Le => ord.is_le(),
                BinOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            }))
        }
    }
}

fn arith(op: BinOp, a: &Value, b: &Value, pos: usize) -> R<Value> {
    let sym = op.symbol();
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        let exact = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div if y != 0 && x.checked_rem(y) == Some(0) => x.checked_div(y),
            BinOp::Rem if y != 0 => x.checked_rem(y),
            BinOp::Pow if (0..=u32::MAX as i64).contains(&y) => x.checked_pow(y as u32),
            _ => None,
        };
        if let Some(v) = exact {
            return Ok(Value::from(v));
        }
    }
    let x = to_number(a, sym, pos)?;
    let y = to_number(b, sym, pos)?;
    let r = match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div | BinOp::Rem if y == 0.0 => {
            return rt(
                pos,
                if op == BinOp::Div {
                    "division by zero"
                } else {
                    "`%` by zero"
                },
            )
        }
        BinOp::Div => x / y,
        BinOp::Pow => x.powf(y),
        _ => x % y,
    };
    Ok(number(r))
}

fn num_eq(a: &Value, b: &Value) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => a.as_f64().zip(b.as_f64()).is_some_and(|(x, y)| x == y),
    }
}

/// `===`: same type and value (numbers by value, arrays and objects by content).
fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => num_eq(a, b),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| strict_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| strict_eq(p, q)))
        }
        _ => a == b,
    }
}

/// `==`: JavaScript's loose equality for primitives (`1 == "1"`, `true == 1`,
/// `null` equals only `null`); arrays and objects compare by content.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => strict_eq(a, b),
        (Value::Array(_) | Value::Object(_), p) => loose_eq(&Value::String(to_text(a)), p),
        (p, Value::Array(_) | Value::Object(_)) => loose_eq(p, &Value::String(to_text(b))),
        (Value::Number(_), Value::Number(_)) => num_eq(a, b),
        _ => {
            let x = to_number(a, "==", 0).unwrap_or(f64::NAN);
            let y = to_number(b, "==", 0).unwrap_or(f64::NAN);
            x == y
        }
    }
}

/// JavaScript `ToInt32`.
fn to_int32(f: f64) -> i32 {
    if !f.is_finite() {
        return 0;
    }
    (f.trunc().rem_euclid(4_294_967_296.0) as u64 as u32) as i32
}

/// `parseInt`: an optional sign and the leading decimal digits (`0x` for hexadecimal); NaN when there are none.
fn parse_int_prefix(s: &str) -> f64 {
    let t = s.trim_start();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    if let Some(h) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        let digits: String = h.chars().take_while(char::is_ascii_hexdigit).collect();
        return u128::from_str_radix(&digits, 16)
            .map(|n| sign * n as f64)
            .unwrap_or(f64::NAN);
    }
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return f64::NAN;
    }
    digits.parse::<f64>().map(|n| sign * n).unwrap_or(f64::NAN)
}

/// `parseDouble`/`parseFloat`: the longest leading decimal number; NaN when there is none.
fn parse_float_prefix(s: &str) -> f64 {
    let t = s.trim_start().as_bytes();
    let digits = |mut i: usize| {
        while i < t.len() && t[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(t.first(), Some(b'-' | b'+')));
    let int_end = digits(i);
    let mut end = int_end;
    let mut any = int_end > i;
    i = int_end;
    if t.get(i) == Some(&b'.') {
        let frac_end = digits(i + 1);
        any |= frac_end > i + 1;
        end = frac_end;
        i = frac_end;
    }
    if !any {
        return f64::NAN;
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        let j = i + 1 + usize::from(matches!(t.get(i + 1), Some(b'-' | b'+')));
        let exp_end = digits(j);
        if exp_end > j {
            end = exp_end;
        }
    }
    std::str::from_utf8(&t[..end])
        .ok()
        .and_then(|p| p.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}
