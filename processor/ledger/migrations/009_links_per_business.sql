-- Acquirer links are a business's own: each business may link any DE32, and linking one another
-- business has linked is neither refused (that would tell the caller it is taken) nor a way to
-- take that business's traffic (ISO 8583 routing gives each DE42/DE41 pair to the earliest link
-- whose business has such a terminal; processor/network.ts).
alter table iso8583_links drop constraint if exists iso8583_links_acquirer_id_key;
alter table iso8583_links add constraint iso8583_links_business_acquirer unique (business_id, acquirer_id);
create index iso8583_links_acquirer on iso8583_links (acquirer_id, created_at, business_id);
