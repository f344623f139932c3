//! Keyset paging: page sizes (default 50, at most 1000) and opaque page tokens that carry the
//! last key of the previous page, so pages stay stable while rows are inserted.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::domain::{Error, Name, Result, check_text};

/// A page request: how many rows, after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// How many rows to return: 1 to 1000 (50 when the caller asked for 0).
    pub size: i64,
    /// The sort key of the last row of the previous page; `None` for the first page.
    pub after: Option<String>,
}

impl Page {
    /// Reads `page_size` and `page_token` from a request.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self> {
        let size = match page_size {
            0 => 50,
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
            n => i64::from(n.min(1000)),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let bytes = URL_SAFE_NO_PAD
                .decode(page_token)
                .map_err(|_| Error::invalid("page_token", "is not a token this server issued"))?;
            let key = String::from_utf8(bytes)
                .ok()
                .filter(|k| check_text("page_token", k).is_ok())
                .ok_or_else(|| Error::invalid("page_token", "is not a token this server issued"))?;
            Some(key)
        };
        Ok(Self { size, after })
    }

    /// Returns the `after` key as a number, for pages keyed by sequence ids.
    pub fn after_id(&self) -> Result<Option<i64>> {
        self.after
            .as_deref()
            .map(|a| {
                a.parse()
                    .map_err(|_| Error::invalid("page_token", "is not a token this server issued"))
            })
            .transpose()
    }

    /// Returns the `after` key as a name, for pages keyed by repo or package names.
    pub fn after_name(&self) -> Result<Option<Name>> {
        self.after
            .as_deref()
            .map(|a| {
                Name::parse("page_token", a)
                    .map_err(|_| Error::invalid("page_token", "is not a token this server issued"))
            })
            .transpose()
    }

    /// Returns the limit to query: one more than the page, to learn whether another follows.
    pub fn limit(&self) -> i64 {
        self.size + 1
    }

    /// Cuts the fetched rows to the page: the page's items and the token of the next page.
    pub fn listed<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> Listed<T> {
        let next_page_token = self.finish(&mut rows, key);
        Listed {
            items: rows,
            next_page_token,
        }
    }

    /// Cuts the fetched rows to the page and returns the token of the next page.
    pub fn finish<T>(&self, rows: &mut Vec<T>, key: impl Fn(&T) -> String) -> String {
        if rows.len() as i64 <= self.size {
            return String::new();
        }
        rows.truncate(self.size as usize);
        rows.last()
            .map(|r| URL_SAFE_NO_PAD.encode(key(r)))
            .unwrap_or_default()
    }
}

/// A page of a listing.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// The items of the page.
    pub items: Vec<T>,
    /// The token of the next page; empty on the last.
    pub next_page_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_and_clamp() {
        assert_eq!(Page::parse(0, "").unwrap().size, 50);
        assert_eq!(Page::parse(5000, "").unwrap().size, 1000);
        assert!(Page::parse(-1, "").is_err());
        assert!(Page::parse(10, "!!!").is_err());
        // "AA" decodes to a NUL byte, which no issued token holds.
        let nul = Page::parse(10, "AA").unwrap_err();
        assert_eq!(nul.field.as_deref(), Some("page_token"));
    }

    #[test]
    fn tokens_round_trip() {
        let page = Page::parse(2, "").unwrap();
        let mut rows = vec![1, 2, 3];
        let token = page.finish(&mut rows, |r| r.to_string());
        assert_eq!(rows, [1, 2]);
        let next = Page::parse(2, &token).unwrap();
        assert_eq!(next.after_id().unwrap(), Some(2));
        let mut last = vec![3];
        assert_eq!(next.finish(&mut last, |r| r.to_string()), "");
    }
}
