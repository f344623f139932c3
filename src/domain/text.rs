//! Free text that reaches SQL (filters, page-token keys, notes, reasons): PostgreSQL refuses
//! NUL in text and SQLite keeps it, so without a check first, one input would be a server
//! error on one backend and data on the other. Every such string passes [`check_text`] at the
//! edge and is refused alike on both, as bad input naming its field.

use super::error::{Error, Result};

/// Returns `value` if it can be stored as text: no NUL character.
pub fn check_text<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    if value.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_naming_the_field() {
        assert_eq!(check_text("actor", "tok_1").unwrap(), "tok_1");
        assert_eq!(check_text("actor", "").unwrap(), "");
        let e = check_text("actor", "a\0b").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("actor"));
    }
}
