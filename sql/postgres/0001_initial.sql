-- tuitalk initial schema (PostgreSQL). Append-only once applied: change it with a new
-- numbered migration, never by editing this file. The server applies it at start (sqlx
-- migrations, serialised between backends by an advisory lock) and so do the tests.
--
-- The same tables as the embedded SQLite schema (sql/sqlite), so both stores behave
-- alike. Times are bigints in milliseconds since the Unix epoch (UTC), the unit the
-- protocol uses, so no conversion is needed between the store and the wire.

-- An identity. Guests are users without credentials; the server issues the id (a UUID)
-- and signs it into the session token, so the id never comes from a client.
-- `user` is a reserved word in PostgreSQL: the table name is always quoted.
create table "user" (
    user_id    text   primary key,
    -- the current display name; messages keep the name they were posted under
    name       text   not null,
    created_at bigint not null
);

-- A chat room. `head` is the sequence of the room's newest message. A batch of posts
-- raises each room's head once by the number of its new posts (`update ... returning`)
-- in the transaction that inserts them: the row lock on the room orders concurrent
-- batches from every backend, and a rolled-back batch rolls the head back too, so
-- sequences have no holes.
create table room (
    room_id    bigint generated always as identity primary key,
    -- the unique index also serves every lookup by name (join, head, history)
    name       text   not null unique,
    head       bigint not null default 0 check (head >= 0),
    created_at bigint not null
);

-- Which rooms a user is a member of (joined on some device and not left), listed in
-- `welcome` so every device can rejoin them. The primary key serves "rooms of a user".
create table membership (
    user_id    text   not null references "user" (user_id),
    room_id    bigint not null references room (room_id),
    created_at bigint not null,
    primary key (user_id, room_id)
);

-- One chat message. `(room_id, seq)` is the room's order and the index behind history
-- pages (seq < before, descending) and resuming (seq > after, ascending);
-- `(author_id, post_id)` makes posting idempotent: a client re-sending a post after a
-- lost ack finds the original, and two backends storing the same post at once cannot
-- both succeed.
create table message (
    message_id bigint generated always as identity primary key,
    room_id    bigint not null references room (room_id),
    seq        bigint not null check (seq > 0),
    post_id    text   not null,
    author_id  text   not null references "user" (user_id),
    -- the author's display name when posting, so history shows what readers saw live
    author     text   not null,
    text       text   not null,
    created_at bigint not null,
    unique (room_id, seq),
    unique (author_id, post_id)
);
