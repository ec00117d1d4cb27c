use session_runtime::{Session, SessionSchema};

#[derive(Session)]
struct Auth {
    #[session(rename = "uid", alias = "user_id", alias = "userId")]
    user: Option<u64>,
    #[session(default = "en".to_owned(), alias = "locale")]
    lang: String,
    #[session(skip)]
    scratch: Vec<u8>,
    r#type: Option<String>,
}

fn main() {
    assert_eq!(Auth::KEYS, &["uid", "lang", "type"]);
    let auth = Auth::default_session();
    assert_eq!(auth.lang, "en");
    assert!(auth.scratch.is_empty() && auth.user.is_none() && auth.r#type.is_none());
}
