//! TuiTalk server (skeleton; being built).
