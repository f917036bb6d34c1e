/** The dev CIM_HMAC_KEY `npm start` keeps under `data_dir`, unless CIM_HMAC_KEY is given (run.mjs). */
export function devSecrets(profile: string, data_dir?: string): { CIM_HMAC_KEY?: string };
