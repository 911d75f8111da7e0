//! The bank's GraphQL schema is checked in (`examples/bank/schema.graphql`): this
//! test fails when the schema changes without the file being updated. Regenerate
//! with `GESTA_UPDATE_SCHEMA=1 cargo test -p gesta-bank --test graphql_schema`, or
//! from a running server with `gesta schema graphql --server URL`.

#[test]
fn the_checked_in_graphql_schema_is_current() {
    let sdl = gesta_http::graphql::sdl(&gesta_bank::app(), &[]).expect("the bank's schema builds");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    if std::env::var_os("GESTA_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).expect("writing schema.graphql");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == sdl,
        "examples/bank/schema.graphql is not the bank's schema: run \
         GESTA_UPDATE_SCHEMA=1 cargo test -p gesta-bank --test graphql_schema and commit it"
    );
}
