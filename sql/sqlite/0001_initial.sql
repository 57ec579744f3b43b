-- tuitalk initial schema (SQLite). Append-only once applied: change it with a new
-- numbered migration, never by editing this file.
--
-- Times are integers in milliseconds since the Unix epoch (UTC), the unit the protocol
-- uses, so no conversion is needed between the store and the wire.

-- An identity. Guests are users without credentials; the server issues the id (a UUID)
-- and signs it into the session token, so the id never comes from a client.
create table user (
    user_id    text    primary key not null,
    -- the current display name; messages keep the name they were posted under
    name       text    not null,
    created_at integer not null
);

-- A chat room. `head` is the sequence of the room's newest message: the next post gets
-- head + 1 inside the same transaction that inserts it, so sequences have no holes.
create table room (
    room_id    integer primary key,
    name       text    not null unique,
    head       integer not null default 0,
    created_at integer not null
);

-- Which rooms a user is a member of (joined on some device and not left), listed in
-- `welcome` so every device can rejoin them.
create table membership (
    user_id    text    not null references user (user_id),
    room_id    integer not null references room (room_id),
    created_at integer not null,
    primary key (user_id, room_id)
);

-- One chat message. `(room_id, seq)` is the room's order; `(author_id, post_id)` makes
-- posting idempotent: a client re-sending a post after a lost ack finds the original.
create table message (
    message_id integer primary key,
    room_id    integer not null references room (room_id),
    seq        integer not null,
    post_id    text    not null,
    author_id  text    not null references user (user_id),
    -- the author's display name when posting, so history shows what readers saw live
    author     text    not null,
    text       text    not null,
    created_at integer not null,
    unique (room_id, seq),
    unique (author_id, post_id)
);
