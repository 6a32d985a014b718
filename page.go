package orbit

// PageRequest selects one page of a listing.
type PageRequest struct {
	// Namespace restricts the listing to one namespace ("" = all namespaces;
	// ignored by a listing by node, whose node already names one).
	Namespace string
	// PageToken continues a previous listing ("" = from the start).
	PageToken string
	// Limit is the most items to return (0 = DefaultPageSize, capped at MaxPageSize).
	Limit int
}

// Page sizes.
const (
	DefaultPageSize = 500
	MaxPageSize     = 10_000
)

// LeasePage is one page of leases. NextPageToken is "" on the last page.
type LeasePage struct {
	Leases        []AddressableLease
	NextPageToken string
}
