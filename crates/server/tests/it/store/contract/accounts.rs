//! The account cases of the `Store` contract: registering (a new account, a guest made an
//! account in place, taken emails and handles, races between stores), logins,
//! credentials and passwords, roles and flags, the account list, and the author's handle
//! on messages. Sessions and mailed codes are in `sessions.rs`.

use std::sync::Arc;

use tuitalk_server::store::accounts::{NewAccount, Profile, RegisterError, Role};
use tuitalk_server::store::{Store, User};

use super::super::{TestDatabase, post};

/// The time of registration the cases use.
const NOW: i64 = 1_000;

/// A new account with a made-up password hash that names the handle.
pub(super) fn account(email: &str, handle: &str, name: &str) -> NewAccount {
    NewAccount {
        email: email.into(),
        handle: handle.into(),
        name: name.into(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${handle}"),
        email_verified: false,
        now: NOW,
    }
}

/// Registers `account` as a new user, which must succeed.
pub(super) async fn register(store: &dyn Store, account: &NewAccount) -> User {
    store.register(None, account).await.expect("register")
}

/// The profile of a user that exists.
async fn profile_of(store: &dyn Store, user_id: &str) -> Profile {
    store
        .profile(user_id)
        .await
        .expect("profile")
        .expect("the user exists")
}
/// A new account gets a new id and its fields; a guest made an account keeps its id, its
/// creation time, its rooms and its messages (still a guest's: without handle), takes the
/// account's name, and posts with its handle from then on.
pub async fn register_new_account_and_upgrade_guest(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = register(&*store, &account("ada@example.org", "ada", "Ada")).await;
    assert_eq!(
        (ada.name.as_str(), ada.handle.as_deref()),
        ("Ada", Some("ada"))
    );
    assert!(
        uuid::Uuid::parse_str(&ada.user_id).is_ok(),
        "{}",
        ada.user_id
    );
    assert_eq!(
        store.user(&ada.user_id).await.expect("user"),
        Some(ada.clone())
    );
    let profile = store
        .profile(&ada.user_id)
        .await
        .expect("profile")
        .expect("exists");
    assert_eq!(profile.user, ada);
    assert_eq!(profile.email.as_deref(), Some("ada@example.org"));
    assert!(!profile.email_verified && !profile.disabled && !profile.is_guest());
    assert_eq!((profile.role, profile.created_at), (Role::Member, NOW));
    // A server without mail registers accounts verified.
    let verified = register(
        &*store,
        &NewAccount {
            email_verified: true,
            ..account("eve@example.org", "eve", "Eve")
        },
    )
    .await;
    assert_ne!(verified.user_id, ada.user_id);
    let profile = store.profile(&verified.user_id).await.expect("profile");
    assert!(profile.expect("exists").email_verified);

    // A guest with a room and a message becomes an account in place.
    let bob = store.create_guest("bob").await.expect("guest");
    assert_eq!(bob.handle, None);
    let guest = store
        .profile(&bob.user_id)
        .await
        .expect("profile")
        .expect("exists");
    assert!(guest.is_guest() && guest.email.is_none() && !guest.email_verified);
    store.join(&bob.user_id, "r").await.expect("join");
    let out = store
        .append_batch(vec![post(&bob.user_id, "r", "p1", "as a guest")])
        .await
        .expect("batch");
    let first = &out[0].as_ref().expect("stored").message;
    assert_eq!(first.author_handle, None);
    let upgraded = store
        .register(
            Some(&bob.user_id),
            &account("bob@example.org", "bob", "Bob"),
        )
        .await
        .expect("upgrade");
    assert_eq!(
        upgraded,
        User {
            user_id: bob.user_id.clone(),
            name: "Bob".into(),
            handle: Some("bob".into()),
        }
    );
    assert_eq!(
        store.user(&bob.user_id).await.expect("user"),
        Some(upgraded)
    );
    let profile = store
        .profile(&bob.user_id)
        .await
        .expect("profile")
        .expect("exists");
    assert_eq!(profile.email.as_deref(), Some("bob@example.org"));
    assert_eq!(
        profile.created_at, guest.created_at,
        "still the guest's row"
    );
    assert!(!profile.is_guest());
    assert_eq!(
        store.rooms_of(&bob.user_id).await.expect("rooms"),
        vec!["r"]
    );
    let out = store
        .append_batch(vec![
            post(&bob.user_id, "r", "p2", "as an account"),
            post(&bob.user_id, "r", "p1", "as a guest"),
        ])
        .await
        .expect("batch");
    let second = out[0].as_ref().expect("stored");
    assert_eq!(second.message.author, "Bob");
    assert_eq!(second.message.author_handle.as_deref(), Some("bob"));
    let resent = out[1].as_ref().expect("duplicate");
    assert!(resent.duplicate);
    assert_eq!(
        &resent.message, first,
        "the guest's message as it was stored"
    );
    let (page, _) = store.history("r", None, 10).await.expect("history");
    let authors: Vec<_> = page
        .iter()
        .map(|m| (m.author.as_str(), m.author_handle.as_deref()))
        .collect();
    assert_eq!(authors, vec![("bob", None), ("Bob", Some("bob"))]);
    store.close().await;
}

/// A taken email or handle is refused with the matching error (for a new account and for
/// an upgrade, which then leaves the guest as it was); an account cannot be upgraded
/// again, a missing user not at all; two stores registering one handle at once: one wins.
pub async fn register_refuses_taken_and_registered(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = register(&*store, &account("ada@example.org", "ada", "Ada")).await;
    let taken = store
        .register(None, &account("ada@example.org", "other", "Other"))
        .await;
    assert!(matches!(taken, Err(RegisterError::EmailTaken)), "{taken:?}");
    let taken = store
        .register(None, &account("other@example.org", "ada", "Other"))
        .await;
    assert!(
        matches!(taken, Err(RegisterError::HandleTaken)),
        "{taken:?}"
    );

    let guest = store.create_guest("gus").await.expect("guest");
    let taken = store
        .register(
            Some(&guest.user_id),
            &account("ada@example.org", "gus", "Gus"),
        )
        .await;
    assert!(matches!(taken, Err(RegisterError::EmailTaken)), "{taken:?}");
    let taken = store
        .register(
            Some(&guest.user_id),
            &account("gus@example.org", "ada", "Gus"),
        )
        .await;
    assert!(
        matches!(taken, Err(RegisterError::HandleTaken)),
        "{taken:?}"
    );
    assert_eq!(
        store.user(&guest.user_id).await.expect("user"),
        Some(guest.clone()),
        "a refused upgrade changes nothing"
    );
    let again = store
        .register(
            Some(&ada.user_id),
            &account("new@example.org", "new", "New"),
        )
        .await;
    assert!(
        matches!(again, Err(RegisterError::AlreadyRegistered)),
        "{again:?}"
    );
    let missing = store
        .register(Some("nobody"), &account("new@example.org", "new", "New"))
        .await;
    assert!(
        matches!(missing, Err(RegisterError::NoSuchUser)),
        "{missing:?}"
    );
    // The refused guest can still register with a free email and handle, once.
    store
        .register(
            Some(&guest.user_id),
            &account("gus@example.org", "gus", "Gus"),
        )
        .await
        .expect("upgrade");
    let twice = store
        .register(
            Some(&guest.user_id),
            &account("gus2@example.org", "gus2", "Gus"),
        )
        .await;
    assert!(
        matches!(twice, Err(RegisterError::AlreadyRegistered)),
        "{twice:?}"
    );
    assert_eq!(
        store
            .profile_by_login("ada")
            .await
            .expect("login")
            .map(|p| p.user),
        Some(ada)
    );

    // Two stores (two backends) register the same handle at once: the unique index
    // decides, the other one hears `handle_taken`.
    let other = db.open().await;
    for round in 0..10 {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for (k, store) in [store.clone(), other.clone()].into_iter().enumerate() {
            let barrier = barrier.clone();
            let new = account(
                &format!("r{round}-{k}@example.org"),
                &format!("race{round}"),
                "R",
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.register(None, &new).await
            }));
        }
        let mut won = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(user) => {
                    won += 1;
                    assert_eq!(user.handle, Some(format!("race{round}")));
                }
                Err(RegisterError::HandleTaken) => {}
                Err(err) => panic!("round {round}: {err:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
    other.close().await;
    store.close().await;
}

/// Logins find an account by email or handle (never a guest); credentials and password
/// hashes are an account's; a new password replaces the old one; the account list pages
/// by handle in bytewise order and leaves guests out.
pub async fn logins_credentials_and_account_list(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = register(&*store, &account("ada@example.org", "ada", "Ada")).await;
    let guest = store.create_guest("ada2").await.expect("guest");
    for login in ["ada@example.org", "ada"] {
        let found = store.profile_by_login(login).await.expect("login");
        assert_eq!(found.map(|p| p.user), Some(ada.clone()), "{login}");
    }
    for login in ["ada2", "nobody", "ADA", ""] {
        assert_eq!(
            store.profile_by_login(login).await.expect("login"),
            None,
            "{login}"
        );
    }
    let hash = account("", "ada", "").password_hash;
    assert_eq!(
        store
            .credentials("ada@example.org")
            .await
            .expect("credentials"),
        Some((ada.user_id.clone(), hash.clone(), false))
    );
    assert_eq!(
        store.credentials("nobody@example.org").await.expect("c"),
        None
    );
    assert_eq!(
        store.password_hash(&ada.user_id).await.expect("hash"),
        Some(hash)
    );
    assert_eq!(
        store.password_hash(&guest.user_id).await.expect("hash"),
        None
    );
    assert_eq!(store.password_hash("nobody").await.expect("hash"), None);
    assert!(store.set_password(&ada.user_id, "$new").await.expect("set"));
    assert_eq!(
        store
            .password_hash(&ada.user_id)
            .await
            .expect("hash")
            .as_deref(),
        Some("$new")
    );
    let creds = store.credentials("ada@example.org").await.expect("c");
    assert_eq!(creds.map(|c| c.1).as_deref(), Some("$new"));
    assert!(
        !store
            .set_password(&guest.user_id, "$x")
            .await
            .expect("guest")
    );
    assert_eq!(
        store.password_hash(&guest.user_id).await.expect("hash"),
        None
    );
    assert!(!store.set_password("nobody", "$x").await.expect("nobody"));

    // Bytewise: digits before `_` before letters, whatever the database's locale.
    for handle in ["adab", "ada_b", "ada1", "zed", "bob"] {
        register(
            &*store,
            &account(&format!("{handle}@example.org"), handle, "X"),
        )
        .await;
    }
    let handles = |page: Vec<Profile>| -> Vec<String> {
        page.into_iter()
            .map(|p| p.user.handle.expect("an account"))
            .collect()
    };
    let all = handles(store.accounts(None, 100).await.expect("accounts"));
    assert_eq!(all, ["ada", "ada1", "ada_b", "adab", "bob", "zed"]);
    let first = handles(store.accounts(None, 2).await.expect("accounts"));
    assert_eq!(first, ["ada", "ada1"]);
    let next = handles(store.accounts(Some("ada1"), 3).await.expect("accounts"));
    assert_eq!(next, ["ada_b", "adab", "bob"]);
    let last = handles(store.accounts(Some("bob"), 3).await.expect("accounts"));
    assert_eq!(last, ["zed"]);
    assert!(
        store
            .accounts(Some("zed"), 3)
            .await
            .expect("end")
            .is_empty()
    );
    store.close().await;
}

/// Roles, disabling and verification are set on the user and read back in its profile
/// (and the credentials' disabled flag); each answers whether the user exists.
pub async fn roles_disabled_and_verified(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = register(&*store, &account("ada@example.org", "ada", "Ada")).await;
    let profile = || profile_of(&*store, &ada.user_id);
    assert!(
        store
            .set_role(&ada.user_id, Role::Admin)
            .await
            .expect("role")
    );
    assert_eq!(profile().await.role, Role::Admin);
    assert!(
        store
            .set_role(&ada.user_id, Role::Member)
            .await
            .expect("role")
    );
    assert_eq!(profile().await.role, Role::Member);
    assert!(!store.set_role("nobody", Role::Admin).await.expect("role"));

    assert!(
        store
            .set_disabled(&ada.user_id, true, 2_000)
            .await
            .expect("disable")
    );
    assert!(profile().await.disabled);
    let creds = store.credentials("ada@example.org").await.expect("c");
    assert_eq!(creds.map(|c| c.2), Some(true));
    assert!(
        store
            .set_disabled(&ada.user_id, false, 3_000)
            .await
            .expect("enable")
    );
    assert!(!profile().await.disabled);
    let creds = store.credentials("ada@example.org").await.expect("c");
    assert_eq!(creds.map(|c| c.2), Some(false));
    assert!(!store.set_disabled("nobody", true, 1).await.expect("nobody"));

    assert!(!profile().await.email_verified);
    assert!(
        store
            .set_email_verified(&ada.user_id, 4_000)
            .await
            .expect("verify")
    );
    assert!(profile().await.email_verified);
    assert!(!store.set_email_verified("nobody", 1).await.expect("nobody"));
    // A guest has no email to verify.
    let guest = store.create_guest("gus").await.expect("guest");
    assert!(
        store
            .set_email_verified(&guest.user_id, 1)
            .await
            .expect("guest")
    );
    let guest = store
        .profile(&guest.user_id)
        .await
        .expect("p")
        .expect("exists");
    assert!(!guest.email_verified && guest.is_guest());
    store.close().await;
}

/// A message carries its author's handle as stored (none for a guest) in every answer:
/// the batch's, an in-batch and a later duplicate, resume and history pages, and a store
/// opened later.
pub async fn messages_carry_author_handle(db: &dyn TestDatabase) {
    let store = db.open().await;
    let ada = register(&*store, &account("ada@example.org", "ada", "Ada")).await;
    let gus = store.create_guest("gus").await.expect("guest");
    let out = store
        .append_batch(vec![
            post(&ada.user_id, "r", "a1", "hello"),
            post(&gus.user_id, "r", "g1", "hi"),
            post(&ada.user_id, "r", "a1", "hello"),
            post(&ada.user_id, "s", "a2", "elsewhere"),
        ])
        .await
        .expect("batch");
    let handles: Vec<_> = out
        .iter()
        .map(|o| o.as_ref().expect("stored").message.author_handle.clone())
        .collect();
    let ada_handle = Some("ada".to_owned());
    assert_eq!(
        handles,
        vec![
            ada_handle.clone(),
            None,
            ada_handle.clone(),
            ada_handle.clone()
        ]
    );
    let out = store
        .append_batch(vec![
            post(&gus.user_id, "r", "g1", "hi"),
            post(&ada.user_id, "r", "a1", "hello"),
        ])
        .await
        .expect("batch");
    let dup_gus = out[0].as_ref().expect("duplicate");
    let dup_ada = out[1].as_ref().expect("duplicate");
    assert!(dup_gus.duplicate && dup_ada.duplicate);
    assert_eq!(dup_gus.message.author_handle, None);
    assert_eq!(dup_ada.message.author_handle, ada_handle);

    let later = db.open().await;
    let after = later.messages_after("r", 0, 10, 10).await.expect("after");
    let (page, _) = later.history("r", None, 10).await.expect("history");
    assert_eq!(after, page);
    let got: Vec<_> = after
        .iter()
        .map(|m| (m.id.as_str(), m.author_handle.as_deref()))
        .collect();
    assert_eq!(got, vec![("a1", Some("ada")), ("g1", None)]);
    let (page, _) = later.history("s", None, 10).await.expect("history");
    assert_eq!(page[0].author_handle, ada_handle);
    later.close().await;
    store.close().await;
}
