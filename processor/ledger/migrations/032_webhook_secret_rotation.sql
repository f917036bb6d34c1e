-- A webhook endpoint's signing secret rotated (POST /v1/webhooks/{id}/rotate-secret): the secret
-- it replaced goes on signing beside the new one, a second v1 in Pocketgate-Signature (EVENTS.md:
-- "Several v1= may appear (during a secret rotation)"), until previous_secret_expires_at, so a
-- receiver moves to the new secret without refusing a delivery. Encrypted as `secret` is.
alter table webhook_endpoints
  add column previous_secret text,
  add column previous_secret_expires_at timestamptz;
