/** The mrn package version (kept in step with package.json by a test). */
export const MRN_VERSION = '0.1.0';
