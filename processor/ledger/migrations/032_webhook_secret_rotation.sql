-- A webhook endpoint's signing secrets replaced by a rotation (POST /v1/webhooks/{id}/rotate-secret):
-- each goes on signing beside the current one, one more v1 in Pocketgate-Signature (EVENTS.md:
-- "Several v1= may appear (during a secret rotation)"), until expires_at (24 hours on), so a
-- receiver moves to the new secret without refusing a delivery, as processor_secrets keep
-- verifying callbacks. Encrypted as webhook_endpoints.secret is.
create table webhook_secrets (
  endpoint_id text not null references webhook_endpoints (id),
  secret text not null,
  expires_at timestamptz not null
);
create index webhook_secrets_endpoint on webhook_secrets (endpoint_id, expires_at);
