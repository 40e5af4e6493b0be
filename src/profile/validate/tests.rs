//! Tests of the whole pipeline: text in, `Profile` or every error out.

use super::parse_and_validate;

const EXAMPLE: &str = include_str!("../../../profiles/example.yaml");
const PROD: &str = include_str!("../../../profiles/prod-us-west-2.yaml");

#[test]
fn example_profiles_validate() {
    for (origin, text) in [("example.yaml", EXAMPLE), ("prod-us-west-2.yaml", PROD)] {
        if let Err(errors) = parse_and_validate(text, origin) {
            panic!("{}", errors.to_plain_text());
        }
    }
}
