/** The digest of the compiler's inputs: every .ts file under src/ (path and content) and tsconfig.json. */
export function sourceDigest(root?: string): string;
/** Whether dist/ holds a build of the sources as they are now. */
export function buildIsFresh(root?: string): boolean;
