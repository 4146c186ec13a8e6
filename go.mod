module txxt

go 1.26.8

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/coder/websocket v1.8.15
	go.etcd.io/bbolt v1.4.3
	golang.org/x/crypto v0.58.0
)

require golang.org/x/sys v0.49.0 // indirect
