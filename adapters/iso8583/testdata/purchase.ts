// A Pocketgate 0200 purchase's field values (2,3,4,7,11,12,13,32,37,41,42,48,49): what the codec's
// spec pins to the byte and what its benchmark packs, so both measure the same message.

export const purchase_fields: Readonly<Record<number, string>> = {
  2: '4761739001010119',
  3: '000000',
  4: '000000005000',
  7: '0911131411',
  11: '000123',
  12: '131411',
  13: '0911',
  32: '423935',
  37: '123456789012',
  41: 'TERM0001',
  42: 'MERCHANT0000001',
  48: 'OTP=123456;',
  49: '978',
};
