//! Choosing cases for a run: `--filter` expressions, `--partition hash:M/N`
//! shards, and the expected-failures file (`--xfail`).

use super::{Case, SuiteError};

/// One `--filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    negated: bool,
    what: FilterKind,
}

#[derive(Debug, Clone, PartialEq)]
enum FilterKind {
    Id(String),
    Section(String),
    Tag(String),
    Severity(String),
    Api(String),
}

impl Filter {
    /// Parses `id:GLOB`, `section:NAME`, `tag:NAME`, `severity:LEVEL`, `api:NAME`,
    /// or a bare id glob; a leading `!` excludes instead.
    pub fn parse(expr: &str) -> Result<Filter, String> {
        let (negated, rest) = match expr.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, expr),
        };
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(format!("--filter `{expr}` is empty; use id:GLOB, section:NAME, tag:NAME, severity:LEVEL or api:NAME"));
        }
        let what = match rest.split_once(':') {
            Some(("id", v)) => FilterKind::Id(v.to_string()),
            Some(("section", v)) => FilterKind::Section(v.to_string()),
            Some(("tag", v)) => FilterKind::Tag(v.to_string()),
            Some(("severity", v)) => match v {
                "must" | "should" | "info" => FilterKind::Severity(v.to_string()),
                _ => {
                    return Err(format!(
                        "--filter `{expr}`: severity is must, should or info"
                    ))
                }
            },
            Some(("api", v)) => FilterKind::Api(v.to_string()),
            Some((k, _)) if !k.contains('/') && !k.contains('*') => {
                return Err(format!(
                "--filter `{expr}`: unknown kind `{k}`; use id:, section:, tag:, severity: or api:"
            ))
            }
            _ => FilterKind::Id(rest.to_string()),
        };
        Ok(Filter { negated, what })
    }

    /// True when the expression (ignoring negation) matches the case.
    fn hits(&self, case: &Case) -> bool {
        match &self.what {
            FilterKind::Id(g) => glob(g, &case.id) || case.id.starts_with(&format!("{g}/")),
            FilterKind::Section(s) => case.section.eq_ignore_ascii_case(s),
            FilterKind::Tag(t) => case.has_tag(t),
            FilterKind::Severity(s) => case.severity.as_str() == s,
            FilterKind::Api(a) => case.api.as_str().eq_ignore_ascii_case(a),
        }
    }

    /// Whether a case is selected by a set of filters: it matches at least one
    /// positive filter (or there are none) and no negative one.
    pub fn select(filters: &[Filter], case: &Case) -> bool {
        let positives: Vec<&Filter> = filters.iter().filter(|f| !f.negated).collect();
        let included = positives.is_empty() || positives.iter().any(|f| f.hits(case));
        included && !filters.iter().any(|f| f.negated && f.hits(case))
    }
}

/// `*` matches any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `--partition hash:M/N`: shard M (1-based) of N, by a stable hash of the case id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// This shard, 1..=N.
    pub shard: u64,
    /// Number of shards.
    pub total: u64,
}

impl Partition {
    /// Parses `hash:M/N`.
    pub fn parse(s: &str) -> Result<Partition, String> {
        let usage = || format!("--partition `{s}`: use hash:M/N with 1 <= M <= N (e.g. hash:1/3)");
        let rest = s.strip_prefix("hash:").ok_or_else(usage)?;
        let (m, n) = rest.split_once('/').ok_or_else(usage)?;
        let shard: u64 = m.trim().parse().map_err(|_| usage())?;
        let total: u64 = n.trim().parse().map_err(|_| usage())?;
        if total == 0 || shard == 0 || shard > total {
            return Err(usage());
        }
        Ok(Partition { shard, total })
    }

    /// True when the case id belongs to this shard.
    pub fn contains(&self, id: &str) -> bool {
        fnv1a(id.as_bytes()) % self.total == self.shard - 1
    }
}

/// FNV-1a, 64 bit: stable across platforms and releases.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One entry of an expected-failures file.
#[derive(Debug, Clone, PartialEq)]
pub struct XfailEntry {
    /// Case id (or glob).
    pub pattern: String,
    /// Why the failure is expected.
    pub reason: String,
    /// 1-based line in the file.
    pub line: usize,
}

/// The expected-failures list (`--xfail FILE`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Xfail {
    /// Entries in file order.
    pub entries: Vec<XfailEntry>,
}

impl Xfail {
    /// Parses the file: one `CASE-ID  reason…` per line; blank lines and `#` comments are ignored.
    pub fn parse(file: &str, text: &str) -> Result<Xfail, SuiteError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, reason) = match line.split_once(char::is_whitespace) {
                Some((p, r)) => (
                    p.to_string(),
                    r.trim().trim_start_matches('#').trim().to_string(),
                ),
                None => (line.to_string(), String::new()),
            };
            if reason.is_empty() {
                let column = raw.len() - raw.trim_start().len() + pattern.len() + 1;
                return Err(SuiteError {
                    file: file.to_string(),
                    line: i + 1,
                    column,
                    message: format!(
                        "`{pattern}` needs a reason: write `{pattern}  why it is expected to fail`"
                    ),
                });
            }
            entries.push(XfailEntry {
                pattern,
                reason,
                line: i + 1,
            });
        }
        Ok(Xfail { entries })
    }

    /// The entry that lists a case id, if any.
    pub fn lookup(&self, id: &str) -> Option<&XfailEntry> {
        self.entries
            .iter()
            .find(|e| e.pattern == id || glob(&e.pattern, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob("openvk/Wall.*/flow", "openvk/Wall.post/flow"));
        assert!(glob("*no-token", "openvk/Users.get/no-token"));
        assert!(!glob("openvk/Wall.*", "openvk/Users.get/success") && glob("a?c", "abc"));
    }

    #[test]
    fn partition_rejects_nonsense() {
        for bad in ["hash:0/3", "hash:4/3", "hash:1/0", "count:1/2", "hash:x/2"] {
            assert!(Partition::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Partition::parse("hash:2/3").unwrap(),
            Partition { shard: 2, total: 3 }
        );
    }

    #[test]
    fn xfail_needs_a_reason_and_names_the_line() {
        let e = Xfail::parse(
            "x.txt",
            "# c\nopenvk/A.b/success   known bug\nopenvk/C.d/success\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.file.as_str()), (3, "x.txt"));
        let ok = Xfail::parse("x.txt", "openvk/A.b/success   known bug #12\n").unwrap();
        assert_eq!(
            ok.lookup("openvk/A.b/success").unwrap().reason,
            "known bug #12"
        );
    }

    proptest! {
        #[test]
        fn every_id_is_in_exactly_one_shard(id in "[a-zA-Z./_-]{1,40}", n in 1u64..9) {
            let hits = (1..=n).filter(|m| Partition { shard: *m, total: n }.contains(&id)).count();
            prop_assert_eq!(hits, 1);
        }
    }
}
