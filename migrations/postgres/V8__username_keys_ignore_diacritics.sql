-- Username keys now ignore diacritics (a name with a combining mark registered next to the
-- plain one). Stored keys are cleared; the binary computes them again after this migration,
-- as it does for adopted rows: in id order the first holder keeps a key, and a later account
-- whose key is taken keeps logging in with a warning in the log.
DELETE FROM user_identity_keys;
