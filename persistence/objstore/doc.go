// Package objstore implements the driver contract (package driver) on an
// object store — S3, Azure Blob Storage, Google Cloud Storage — through the
// seven operations of Bucket. Each service's package is a thin Bucket
// adapter on its official client.
//
// # What it relies on
//
// One guarantee of the service: a create-only write (S3 PUT with
// If-None-Match: *, Azure If-None-Match: *, GCS ifGenerationMatch=0) is
// atomic — of concurrent creations of one name at most one succeeds.
// Conditional overwrites (If-Match) and conditional deletes are not used:
// on some S3-compatible servers they are not atomic (two concurrent
// If-Match writers both won, in rare rounds, on versitygw and SeaweedFS) or
// not enforced (gofakes3 ignores If-Match on DELETE). Listings and reads
// must be strongly consistent (AWS S3 since December 2020, Azure, GCS).
//
// # Chains
//
// An object is never overwritten. Every write of a key K creates a new
// object, named after the one it replaces:
//
//	<prefix>enc(K)!!/<seq>-<pred>
//
// seq numbers the writes of K; pred is a 64-bit fingerprint (FNV-1a) of
// the entity tag of the object replaced, or 0 for a creation (a write
// on an absent key). Bodies are unique (8 random bytes in the header), so
// entity tags, and so fingerprints, tell writes apart. The objects of one
// key form its chain, listed together in seq order.
//
// Compare-and-swap is a create-only write: every writer that read the same
// version of K computes the same successor name, and only one of them
// creates it. A deletion writes a tombstone (a body with no value) the same
// way.
//
// # Which object counts
//
//   - A replacement counts when the object it names as predecessor is
//     listed, with that fingerprint.
//   - A creation counts when no creation with a higher seq is listed.
//   - The head of K is the object that counts with the highest seq; K is
//     absent when there is none or it is a tombstone.
//
// A create-only write can still succeed on a name that existed and was
// collected (below); such a write is void, and the writer checks:
//   - a replacement re-reads its predecessor (HEAD): collection removes a
//     chain's objects in ascending order, so a predecessor still present
//     means its successor's name was never taken before, and the write
//     won; a predecessor gone means it lost. Its object then does not
//     count either (its predecessor is not listed).
//   - a creation lists the chain and won when its object is the head, or
//     when the head was already written on top of it.
//
// A write that lost returns driver.ErrConflict; its object is junk that
// never counts and is collected.
//
// # Collection
//
// Operations that list a chain queue it for collection when it holds more
// than it needs. A background collector re-lists it and:
//   - on a live key keeps the head and its predecessor (which the head's
//     validity rests on) and removes everything else;
//   - on a deleted key keeps the last tombstone and the object it
//     replaced, so that the tombstone keeps counting; everything else goes
//     while the tombstone is younger than half of TombstoneRetention
//     (when older, a fresh tombstone is written on top first). A tombstone
//     older than TombstoneRetention goes with the object it rests on, and
//     the key costs nothing any more; when that object is a creation, a
//     fresh tombstone is written on top first, so that the creation is
//     removed under a counting tombstone like the rest.
//
// Every request of one collection is issued within TombstoneRetention/4 of
// its listing, and tombstone ages are measured on the server's clock (the
// Date header of the listing). That bounds the one hazard of removing by
// name: removing, from an old listing, a creation named like one made
// later that counts. Creation names (seq-0) are removed only under a live
// head or under a counting tombstone younger than half the retention; a
// creation made on such a name while the tombstone counts is void, and the
// tombstone counts until its final removal, which needs it older than the
// retention: later than any removal issued from that listing. The final
// removal removes only replacements and tombstones, whose names embed the
// fingerprint of a unique entity tag and are never taken again.
//
// A creation that was void when its writer checked can count later, once
// the tombstone above it is finally removed. The writer re-lists after a
// lost creation and recognises its own object as the head (it then
// reports success: the key holds its value); a creation whose writer
// crashed before that can appear after the key's final reclamation, as
// the outcome of a write whose answer was lost.
//
// # Costs
//
// Get: one listing of the chain and one GET (none when the body is cached:
// objects never change, so the cache needs no invalidation). A replacement:
// one PUT and one HEAD. A creation: one PUT and one listing (a listing
// before, when the key existed). List: one listing per 1,000 objects and
// one GET per key not cached, ReadConcurrency at a time.
package objstore
