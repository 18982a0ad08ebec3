-- The JSON patch (RFC 6902) a transition made to the entity, on the first
-- history row that transition wrote; NULL on rows whose transition changed
-- nothing. Replaying the patches up to a row gives the entity right after
-- it (entity time travel).
ALTER TABLE history ADD COLUMN patch TEXT;
