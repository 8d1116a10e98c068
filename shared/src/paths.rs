//! Variable paths (`customer.name`, `orders[0].id`, `[0].id`): how inbound webhooks name the values
//! they pull out of a response.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariablePath(pub Vec<Segment>);

/// In characters, as JSON Schema's `maxLength` counts (the OpenAPI document says 256).
pub const MAX_PATH_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(pub &'static str);

impl VariablePath {
    /// Parses `a.b[2].c`. Keys are any characters but `.`, `[`, `]` and control characters;
    /// indexes are decimal. A path may start with an index (a top-level array).
    pub fn parse(s: &str) -> Result<Self, PathError> {
        if s.is_empty() {
            return Err(PathError("must not be empty"));
        }
        if s.chars().count() > MAX_PATH_LEN {
            return Err(PathError("must be at most 256 characters"));
        }
        let mut segments = Vec::new();
        let mut rest = s;
        let mut first = true;
        while !rest.is_empty() {
            if !first || !rest.starts_with('[') {
                if !first {
                    rest = rest
                        .strip_prefix('.')
                        .ok_or(PathError("expected '.' between names"))?;
                }
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let key = &rest[..end];
                if key.is_empty() {
                    return Err(PathError("has an empty name"));
                }
                if key.contains(']') || key.chars().any(char::is_control) {
                    return Err(PathError("has a name with ']' or a control character"));
                }
                segments.push(Segment::Key(key.to_string()));
                rest = &rest[end..];
            }
            first = false;
            while let Some(after) = rest.strip_prefix('[') {
                let close = after.find(']').ok_or(PathError("has an unclosed '['"))?;
                let digits = &after[..close];
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || digits.len() > 9
                {
                    return Err(PathError("has an index that is not a number"));
                }
                segments.push(Segment::Index(digits.parse().expect("checked digits")));
                rest = &after[close + 1..];
            }
        }
        Ok(VariablePath(segments))
    }
}

impl fmt::Display for VariablePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::*;

    #[test]
    fn parses_the_documented_shapes() {
        assert_eq!(
            VariablePath::parse("orders[0].id").unwrap().0,
            vec![Key("orders".into()), Index(0), Key("id".into())]
        );
        assert_eq!(
            VariablePath::parse("[1][2].x").unwrap().0,
            vec![Index(1), Index(2), Key("x".into())]
        );
        assert_eq!(
            VariablePath::parse("premium_amount").unwrap().0,
            vec![Key("premium_amount".into())]
        );
        for s in ["customer.name", "orders.order[1].id", "[0].id", "a-b:c.d"] {
            assert_eq!(VariablePath::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_malformed_paths() {
        for bad in [
            "", "a..b", ".a", "a.", "a[", "a[x]", "a[]", "a]b", "a.[0]", "a\nb",
        ] {
            assert!(
                VariablePath::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(VariablePath::parse(&"a".repeat(257)).is_err());
    }
}
