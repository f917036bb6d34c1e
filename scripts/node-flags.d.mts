// Types of node-flags.mjs (plain JavaScript: npm start runs it before anything is compiled).
export declare const gateway_node_flags: readonly string[];
