-- Accounts, sessions and mailed codes (docs/protocol.md, "Identities: guests and
-- accounts" and "Sessions and tokens"), as in sql/postgres/0003_accounts.sql. A guest is
-- a user row without a handle; making it an account fills in the account columns of the
-- same row, so its id, rooms and messages stay. Times are integers in ms since the Unix
-- epoch.

-- The account columns, all null for a guest. Email and handle are normalised by the
-- server (a trimmed, lower-case email; a lower-case handle), so equality is the match.
alter table user add column email text;
alter table user add column handle text check (handle = lower(handle));
-- an argon2id hash in PHC string form; never the password
alter table user add column password_hash text;
alter table user add column email_verified_at integer;
alter table user add column role text not null default 'member'
    check (role in ('member', 'admin'));
-- set by an operator: the account cannot log in and its sessions were revoked
alter table user add column disabled_at integer;
-- The unique indexes decide registration races; SQLite's error names the column, which
-- the server maps to `email_taken` or `handle_taken`. Partial: guests are left out.
create unique index user_email_key on user (email) where email is not null;
create unique index user_handle_key on user (handle) where handle is not null;

-- One device's sign-in. A revoked session stays until pruned, so that a stale token is
-- refused and every backend learns of the revocation (`revoked_since`).
create table session (
    session_id   text    primary key not null,
    user_id      text    not null references user (user_id),
    label        text    not null,
    created_at   integer not null,
    last_seen_at integer not null,
    -- the absolute end, whatever the use
    expires_at   integer not null,
    revoked_at   integer
);
-- the sessions of a user (`sessions_of`, revoking all of them, `has_sessions`)
create index session_user_id on session (user_id);
-- what was revoked recently (`revoked_since`): only revoked rows, a small index
create index session_revoked_at on session (revoked_at) where revoked_at is not null;
-- the ended sessions that pruning deletes
create index session_expires_at on session (expires_at);

-- A code mailed for a password reset or an email verification, kept only as its SHA-256
-- hash. A code is used at most once: the update that sets `used_at` only matches an
-- unused, unexpired row.
create table auth_code (
    code_hash  text    primary key not null,
    user_id    text    not null references user (user_id),
    purpose    text    not null check (purpose in ('reset', 'verify')),
    created_at integer not null,
    expires_at integer not null,
    used_at    integer
);
-- the expired codes that pruning deletes
create index auth_code_expires_at on auth_code (expires_at);

-- The author's handle when posting (null for a guest), like `author`: a guest that
-- registers later keeps its earlier messages as a guest's.
alter table message add column author_handle text;
