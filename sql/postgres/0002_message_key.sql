-- `message_id` was never read: `(room_id, seq)` identifies a message. Dropping the column
-- saves one index insert and one sequence step per stored message (docs/benchmarks.md),
-- and the room's order becomes the primary key (its index replaces the unique one).
alter table message drop column message_id;
alter table message
    drop constraint message_room_id_seq_key,
    add constraint message_pkey primary key (room_id, seq);
