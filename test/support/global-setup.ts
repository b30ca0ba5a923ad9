// Replaced by the test database selection (issue 2, item 6).
export default async function setup(): Promise<void> {}
