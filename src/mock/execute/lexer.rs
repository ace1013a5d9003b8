//! VKScript tokens: identifiers, numbers, strings (both quote styles, JS
//! escapes), punctuation and operators, with `//` and `/* */` comments
//! skipped. Every token remembers its byte offset and whether a line break
//! came before it (for optional semicolons).

use super::parser::SyntaxError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or keyword (`var`, `return`, `API`, `Args`, …).
    Ident(String),
    /// A number literal (integers that fit an `i64` stay exact).
    Int(i64),
    /// A number literal with a fraction or exponent, or too large for `i64`.
    Float(f64),
    /// A string literal with escapes resolved.
    Str(String),
    /// Punctuation or an operator (`(`, `==`, `+=`, `@.`, …).
    Punct(&'static str),
    /// End of input.
    Eof,
}

/// A token with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// The token.
    pub tok: Tok,
    /// Byte offset of its first character.
    pub pos: usize,
    /// A line break came between the previous token and this one.
    pub nl_before: bool,
}

/// Longest first, so `===` wins over `==` and `=`.
const PUNCTS: &[&str] = &[
    "===", "!==", "@.", "==", "!=", "<=", ">=", "<<", ">>", "&&", "||", "**", "+=", "-=", "*=",
    "/=", "%=", "++", "--", "(", ")", "[", "]", "{", "}", ",", ";", ":", ".", "?", "=", "<", ">",
    "+", "-", "*", "/", "%", "!", "&", "|", "^",
];

/// Splits source text into tokens; the last one is always [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut nl = false;
    while i < bytes.len() {
        let c = bytes[i];
        // Whitespace and comments.
        if c == b'\n' || c == b'\r' {
            nl = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let start = i;
            i += 2;
            loop {
                if i + 1 >= bytes.len() {
                    return Err(SyntaxError::new(
                        start,
                        "unterminated comment: `/*` has no closing `*/`",
                    ));
                }
                if bytes[i] == b'*' && bytes[i + 1] == b'/' {
                    i += 2;
                    break;
                }
                if bytes[i] == b'\n' {
                    nl = true;
                }
                i += 1;
            }
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
            {
                i += 1;
            }
            Tok::Ident(src[start..i].to_string())
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let (tok, end) = number(src, start)?;
            i = end;
            tok
        } else if c == b'"' || c == b'\'' {
            let (s, end) = string(src, start)?;
            i = end;
            Tok::Str(s)
        } else if let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            i += p.len();
            Tok::Punct(p)
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            if ch.is_whitespace() || ch == '\u{FEFF}' {
                nl |= matches!(ch, '\u{2028}' | '\u{2029}');
                i += ch.len_utf8();
                continue;
            }
            return Err(SyntaxError::new(
                start,
                format!("unexpected character `{}`", ch.escape_default()),
            ));
        };
        out.push(Token {
            tok,
            pos: start,
            nl_before: nl,
        });
        nl = false;
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
        nl_before: true,
    });
    Ok(out)
}

/// `12`, `3.5`, `.5`, `1e3`, `0x1F`.
fn number(src: &str, start: usize) -> Result<(Tok, usize), SyntaxError> {
    let b = src.as_bytes();
    let mut i = start;
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        let digits = i;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i == digits {
            return Err(SyntaxError::new(
                start,
                "a hexadecimal number needs digits after `0x`",
            ));
        }
        let tok = match i64::from_str_radix(&src[digits..i], 16) {
            Ok(n) => Tok::Int(n),
            Err(_) => Tok::Float(
                u128::from_str_radix(&src[digits..i], 16)
                    .map(|n| n as f64)
                    .unwrap_or(f64::INFINITY),
            ),
        };
        return ident_must_not_follow(src, start, i).map(|()| (tok, i));
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut float = false;
    if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        float = true;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            float = true;
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    ident_must_not_follow(src, start, i)?;
    let text = &src[start..i];
    let tok = if float {
        Tok::Float(
            text.parse::<f64>()
                .map_err(|_| SyntaxError::new(start, format!("`{text}` is not a number")))?,
        )
    } else {
        match text.parse::<i64>() {
            Ok(n) => Tok::Int(n),
            Err(_) => Tok::Float(
                text.parse::<f64>()
                    .map_err(|_| SyntaxError::new(start, format!("`{text}` is not a number")))?,
            ),
        }
    };
    Ok((tok, i))
}

fn ident_must_not_follow(src: &str, start: usize, end: usize) -> Result<(), SyntaxError> {
    match src.as_bytes().get(end) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b'$' => Err(SyntaxError::new(
            start,
            "an identifier cannot start right after a number",
        )),
        _ => Ok(()),
    }
}

/// A quoted string starting at `start`; returns the text and the offset after the closing quote.
fn string(src: &str, start: usize) -> Result<(String, usize), SyntaxError> {
    let quote = src.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        let at = start + 1 + off;
        match c {
            c if c == quote => return Ok((out, at + 1)),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '0' => out.push('\0'),
                    '\n' => {}
                    'u' => {
                        let mut code = 0u32;
                        for _ in 0..4 {
                            let d = chars.next().and_then(|(_, h)| h.to_digit(16)).ok_or_else(
                                || SyntaxError::new(at, "`\\u` needs four hexadecimal digits"),
                            )?;
                            code = code * 16 + d;
                        }
                        // A surrogate pair is two \u escapes in a row.
                        if (0xD800..0xDC00).contains(&code) {
                            let rest = chars.as_str();
                            let low = rest
                                .strip_prefix("\\u")
                                .and_then(|r| r.get(..4))
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .filter(|l| (0xDC00..0xE000).contains(l));
                            if let Some(low) = low {
                                for _ in 0..6 {
                                    chars.next();
                                }
                                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                            }
                        }
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    }
                    'x' => {
                        let mut code = 0u32;
                        for _ in 0..2 {
                            let d = chars.next().and_then(|(_, h)| h.to_digit(16)).ok_or_else(
                                || SyntaxError::new(at, "`\\x` needs two hexadecimal digits"),
                            )?;
                            code = code * 16 + d;
                        }
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    Err(SyntaxError::new(
        start,
        format!("unterminated string: the {quote} quote is never closed"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_strings_and_operators() {
        assert_eq!(
            toks(r#"a = -1.5e1 + 'it\'s' + "\u0041\n" === 0x10;"#),
            vec![
                Tok::Ident("a".into()),
                Tok::Punct("="),
                Tok::Punct("-"),
                Tok::Float(15.0),
                Tok::Punct("+"),
                Tok::Str("it's".into()),
                Tok::Punct("+"),
                Tok::Str("A\n".into()),
                Tok::Punct("==="),
                Tok::Int(16),
                Tok::Punct(";"),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_are_skipped_and_line_breaks_remembered() {
        let t = tokenize("a // x\n/* y\n */ b").unwrap();
        assert_eq!(t[1].tok, Tok::Ident("b".into()));
        assert!(t[1].nl_before);
    }

    #[test]
    fn surrogate_pairs_and_unterminated_strings() {
        assert_eq!(toks(r#""\ud83d\ude00""#)[0], Tok::Str("😀".into()));
        assert!(tokenize("'abc").is_err());
        assert!(tokenize("/* never").is_err());
        assert!(tokenize("#").is_err());
        assert!(tokenize("1a").is_err());
    }
}
