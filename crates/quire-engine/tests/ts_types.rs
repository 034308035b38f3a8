//! The UI's TypeScript types are generated from the engine's Rust types; this
//! fails when `ui/src/api/generated.ts` is stale. Regenerate it with
//! `QUIRE_WRITE_TS=1 cargo test --workspace --test ts_types`.

use std::path::PathBuf;

#[test]
fn the_ui_types_are_generated_from_the_rust_types() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/api/generated.ts");
    let want = quire_engine::api::typescript();
    if std::env::var_os("QUIRE_WRITE_TS").is_some() {
        std::fs::write(&path, &want).expect("writing generated.ts");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run `QUIRE_WRITE_TS=1 cargo test --workspace --test ts_types` and commit it",
        path.display()
    );
}
