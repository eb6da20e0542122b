package engine

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
)

// gzipped counts the messages this process compresses with gzip: the test
// registers a gzip compressor that counts, then does what grpc's does.
var gzipped atomic.Int64

type countingGzip struct{ encoding.Compressor }

func (c countingGzip) Compress(w io.Writer) (io.WriteCloser, error) {
	gzipped.Add(1)
	return c.Compressor.Compress(w)
}

func init() {
	encoding.RegisterCompressor(countingGzip{encoding.GetCompressor(grpcgzip.Name)})
}

// TestCompressionOnTheWire dials a gRPC frontend with each compression and
// counts the requests gzip compressed: none by default and with "none",
// some with "gzip"; an unknown name is refused, naming the choices.
func TestCompressionOnTheWire(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	workflowservice.RegisterWorkflowServiceServer(srv, workflowservice.UnimplementedWorkflowServiceServer{})
	go srv.Serve(lis)
	defer srv.Stop()

	for _, tc := range []struct {
		name       string
		compressed bool
	}{{"", false}, {CompressionNone, false}, {CompressionGzip, true}} {
		c, err := Compression(tc.name)
		if err != nil {
			t.Fatalf("%q: %v", tc.name, err)
		}
		tcl, err := client.NewLazyClient(client.Options{HostPort: lis.Addr().String(), Namespace: "default",
			ConnectionOptions: client.ConnectionOptions{GrpcCompression: c}})
		if err != nil {
			t.Fatal(err)
		}
		before := gzipped.Load()
		// The frontend answers Unimplemented; the request went out all the same.
		_, _ = tcl.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		tcl.Close()
		if got := gzipped.Load() > before; got != tc.compressed {
			t.Errorf("compression %q: request gzipped %v, want %v", tc.name, got, tc.compressed)
		}
	}
	if _, err := Compression("zstd"); err == nil || err.Error() != `temporal compression "zstd": want none or gzip` {
		t.Errorf("unknown compression: %v", err)
	}
}
