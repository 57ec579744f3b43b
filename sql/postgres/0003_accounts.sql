-- Accounts, sessions and mailed codes (docs/protocol.md, "Identities: guests and
-- accounts" and "Sessions and tokens"). A guest is a user row without a handle; making
-- it an account fills in the account columns of the same row, so its id, rooms and
-- messages stay. The rules about accounts (hashing, tokens, expiry) live in the server;
-- these tables only keep what it decided. Times are bigints in ms since the Unix epoch.

-- The account columns, all null for a guest. Email and handle are normalised by the
-- server (a trimmed, lower-case email; a lower-case handle), so equality is the match.
alter table "user"
    add column email             text,
    -- bytewise order ("C"): `accounts` pages by handle, and SQLite orders the same way
    add column handle            text collate "C" check (handle = lower(handle)),
    -- an argon2id hash in PHC string form; never the password
    add column password_hash     text,
    add column email_verified_at bigint,
    add column role              text   not null default 'member'
        check (role in ('member', 'admin')),
    -- set by an operator: the account cannot log in and its sessions were revoked
    add column disabled_at       bigint;
-- The unique indexes decide registration races between backends; the server maps a
-- violation to `email_taken` or `handle_taken` by these names. Partial: guests (the
-- many rows without an account) are left out of both.
create unique index user_email_key on "user" (email) where email is not null;
create unique index user_handle_key on "user" (handle) where handle is not null;

-- One device's sign-in. The token a client holds names its session, so a session can be
-- listed, relabelled and revoked; a revoked session stays until pruned, so that every
-- backend learns of the revocation (`revoked_since`) and a stale token is refused.
create table session (
    session_id   text   primary key,
    user_id      text   not null references "user" (user_id),
    label        text   not null,
    created_at   bigint not null,
    last_seen_at bigint not null,
    -- the absolute end, whatever the use
    expires_at   bigint not null,
    revoked_at   bigint
);
-- the sessions of a user (`sessions_of`, revoking all of them, `has_sessions`)
create index session_user_id on session (user_id);
-- what was revoked recently (`revoked_since`): only revoked rows, a small index
create index session_revoked_at on session (revoked_at) where revoked_at is not null;
-- the ended sessions that pruning deletes
create index session_expires_at on session (expires_at);

-- A code mailed for a password reset or an email verification. Only its SHA-256 hash is
-- kept, so a database leak does not hand out live codes. A code is used at most once:
-- the update that sets `used_at` only matches an unused, unexpired row.
create table auth_code (
    code_hash  text   primary key,
    user_id    text   not null references "user" (user_id),
    purpose    text   not null check (purpose in ('reset', 'verify')),
    created_at bigint not null,
    expires_at bigint not null,
    used_at    bigint
);
-- the expired codes that pruning deletes
create index auth_code_expires_at on auth_code (expires_at);

-- The author's handle when posting (null for a guest), like `author`: a guest that
-- registers later keeps its earlier messages as a guest's.
alter table message add column author_handle text;
