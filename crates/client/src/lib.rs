//! TuiTalk client core (skeleton; being built).
