// ISO8583.md: "An acquirer link, created with `POST /v1/iso8583/links` `{acquirer_id}` (admin key,
// returns 201), binds DE32 to the business." A bank acquires for many businesses: the 33rd
// business to link one DE32 answered 201 and then 03 to every one of its terminals' messages
// (routing read only the first 32 links). Routing now considers up to acquirer_businesses_max
// businesses, and a link past that bound is refused, never made to route nothing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { newId } from '../core/ids.ts';
import { acquirer_businesses_max } from '../processor/network-redis.ts';
import { acquiredBusiness, randomAcquirerId } from './acquirer.ts';
import { createCardContact } from './card-contact.ts';
import { call, createBusiness, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let iso: IsoClient;
beforeAll(async () => {
  gw = await startTestGateway({}, false, true);
  iso = await connectIso(gw.iso8583_port);
});
afterAll(async () => {
  await iso?.close();
  await gw?.close();
});

describe('many businesses on one DE32', () => {
  it("the 33rd business linking one DE32 gets its terminals' card sales", async () => {
    const acquirer = randomAcquirerId();
    let stan = 0;
    for (let i = 0; i < 33; i++) {
      const biz = await acquiredBusiness(gw, acquirer);
      if (i < 31) continue;
      const c = await createCardContact(gw, biz, 7_700_000 + i);
      const reply = await iso.send(createMessage('0200', {
        2: c.card, 3: '000000', 4: '000000001000', 7: '1124101500', 11: String(++stan).padStart(6, '0'), 32: acquirer,
        41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978',
      }));
      expect(reply.fields[39], `business ${i + 1} on DE32 ${acquirer}`).toBe('00');
    }
  }, 60_000);

  it('a link past the bound is refused 400 on acquirer_id; one already made still answers', async () => {
    const acquirer = randomAcquirerId();
    const padded = acquirer.padStart(11, '0');
    const first = await createBusiness(gw);
    const made = await call(gw, 'POST', '/v1/iso8583/links', first.admin_key, { acquirer_id: acquirer });
    expect(made.status, made.text).toBe(201);
    // The other links, straight into PostgreSQL: as many businesses as the bound leaves.
    const { sql } = gw.processor.stores;
    const others = Array.from({ length: acquirer_businesses_max - 1 }, () => newId('bus'));
    await sql`insert into businesses ${sql(others.map((id) => ({ id, name: 'filler', currency: 'EUR', reward_resolution: 'all' })))}`;
    await sql`insert into iso8583_links ${sql(others.map((business_id) => ({ id: newId('lnk'), acquirer_id: padded, business_id })))}`;
    try {
      const late = await createBusiness(gw);
      const refused = await call(gw, 'POST', '/v1/iso8583/links', late.admin_key, { acquirer_id: acquirer });
      expect(refused.status, refused.text).toBe(400);
      expect(refused.body.code).toBe('validation_failed');
      expect(refused.body.errors[0].path).toBe('acquirer_id');
      const again = await call(gw, 'POST', '/v1/iso8583/links', first.admin_key, { acquirer_id: acquirer });
      expect(again.status, again.text).toBe(201);
      expect(again.body.id).toBe(made.body.id);
    } finally {
      // The fillers have nothing else (no key, no scheme): gone, so that no other file meets them.
      await sql`delete from iso8583_links where business_id in ${sql(others)}`;
      await sql`delete from businesses where id in ${sql(others)}`;
    }
  }, 60_000);
});
