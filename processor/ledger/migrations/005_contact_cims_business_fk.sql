-- A CIM row's business is its contact's business, and the contact's own foreign key already
-- says that business exists; checking it again for every CIM cost the import about a fifth of
-- PostgreSQL's CPU (four CIMs per contact, each a row-level lookup and key-share lock on the one
-- business row that every concurrent batch shares). The contact foreign key stays.
alter table contact_cims drop constraint contact_cims_business_id_fkey;
