-- The back office's look-up by the email or phone a contact has on file (POST /v1/contacts/lookup
-- after its CIMs: Contacts.byDetail): one business's contacts with that value, read through an
-- index rather than a scan of the business's contacts. Partial: most contacts have neither.
-- Built in the migration's transaction, which holds writes to contacts meanwhile, for a time in
-- proportion to the contacts (not measured).
create index contacts_business_email on contacts (business_id, email) where email is not null;
create index contacts_business_phone on contacts (business_id, phone) where phone is not null;
