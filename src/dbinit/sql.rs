//! Quoting and password hashing for the SQL that `db init` and the db-init Job send.

use md5::{Digest, Md5};

/// Quotes an SQL identifier: always in double quotes, so `process-engine` and mixed case
/// survive as they are.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal (standard strings: only `'` needs doubling).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Returns PostgreSQL's md5 password hash: `md5` followed by the hex md5 of the password
/// and the role name. A role given this string as its password stores it as it is.
pub fn md5_password_hash(password: &str, role: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(password.as_bytes());
    hasher.update(role.as_bytes());
    let digest = hasher.finalize();
    let mut hash = String::with_capacity(35);
    hash.push_str("md5");
    for byte in digest {
        hash.push_str(&format!("{byte:02x}"));
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(quote_ident("process-engine"), "\"process-engine\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn literals_double_single_quotes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn md5_hash_matches_postgres() {
        // SELECT 'md5' || md5('secret' || 'kong');
        assert_eq!(
            md5_password_hash("secret", "kong"),
            "md5f588ac4c7823ecd85ca51d4efe74810e"
        );
    }
}
