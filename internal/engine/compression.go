package engine

import (
	"fmt"

	"go.temporal.io/sdk/client"
)

// The gRPC compressions of AIR's calls to Temporal (-temporal-compression).
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
)

// Compression is the gRPC compression named by name for a Temporal client's
// ConnectionOptions: none (also the empty name) or gzip.
//
// AIR defaults to none, where the Temporal Go SDK defaults to gzip: on a
// network where the frontend is near (the same host, rack or VPC),
// compressing every task completion and poll response costs more CPU on
// both sides than the bytes it saves; measured on the native stack it was
// about a fifth of the whole stack's processor time per investigation
// (docs/deployment.md, "End to end on the native stack"). gzip is for a
// frontend across a slow or metered link, such as Temporal Cloud from
// another region.
func Compression(name string) (client.GrpcCompression, error) {
	switch name {
	case "", CompressionNone:
		return &client.GrpcCompressionNone{}, nil
	case CompressionGzip:
		return &client.GrpcCompressionGzip{}, nil
	}
	return nil, fmt.Errorf("temporal compression %q: want %s or %s", name, CompressionNone, CompressionGzip)
}
