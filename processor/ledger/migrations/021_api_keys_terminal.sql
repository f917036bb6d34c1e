-- A terminal's key is read by its terminal (network-sync.ts selectTerminals, a rotation's
-- delete), and api_keys had no index on terminal_id: each read scanned every key of every
-- business. Copying the network into Redis (npm run rebuild, a gateway on a new Redis) reads each
-- terminal's key, so it took time in terminals × keys: 125 s for 40,021 terminals
-- (test/big-business.test.ts). Ordered as the reads pick the latest key.
create index api_keys_terminal on api_keys (terminal_id, created_at) where terminal_id is not null;
