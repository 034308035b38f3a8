// Quire's commands become the app's only permissions (`allow-<command>`);
// capabilities/main.json grants exactly these to the main window.
fn main() {
    let manifest = tauri_build::AppManifest::new().commands(&COMMANDS);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        panic!("tauri build step failed: {e:#}");
    }
}

const COMMANDS: [&str; 32] = [
    "info",
    "documents",
    "remove_document",
    "document_text",
    "document_bytes",
    "open_document",
    "import_paths",
    "search",
    "ask",
    "stop_answer",
    "chats",
    "chat",
    "rename_chat",
    "delete_chat",
    "models",
    "inspect_model",
    "settings",
    "save_settings",
    "collections",
    "add_to_collection",
    "remove_from_collection",
    "delete_collection",
    "pick",
    "watch_drops",
    "upload",
    "stop_imports",
    "resume_import",
    "import_queue",
    "forget_import_queue",
    "watched",
    "add_watched",
    "remove_watched",
];
