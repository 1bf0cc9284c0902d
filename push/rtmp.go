package push

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/yutopp/go-amf0"
	rtmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"
)

// rtmpConn is one publishing RTMP connection.
//
// It is built from go-rtmp's parts (handshake, ChunkStreamer, message
// codec) rather than its ClientConn, whose defects cannot be worked around
// from outside: ClientConn dials without a deadline, its Connect and
// CreateStream wait for the reply with no timeout and keep waiting after
// the connection closed (a server that refuses the app leaks a goroutine
// forever), Stream.Write shares a message buffer between callers, Publish
// returns without waiting for NetStream.Publish.Start, and a stream created
// by CreateStream has no state handler, so the server's onStatus panics its
// read loop. Here the connection owns the socket, bounds the whole setup
// with one deadline that closes the socket when it expires, waits for the
// server's verdict on connect, createStream and publish itself, serializes
// every write, and owns its two goroutines (the read loop and go-rtmp's
// chunk write loop), which Close stops.
//
// go-rtmp's ChunkStreamer logs through logrus's standard logger only at
// debug level on this path; the command routes that logger anyway.
type rtmpConn struct {
	nc           net.Conn
	cs           *rtmp.ChunkStreamer
	writeTimeout time.Duration
	streamID     uint32

	ctx    context.Context // ends at Close: unblocks a waiting write
	cancel context.CancelFunc

	wmu sync.Mutex // ChunkStreamer.Write is not safe for concurrent use

	replies chan cmdReply
	done    chan struct{} // closed when the read loop ends
	readErr error         // why it ended; read after done

	closeOnce sync.Once
}

// Chunk stream ids. Audio, video and metadata share one chunk stream, so
// that messages leave in the order they were written: on separate chunk
// streams go-rtmp interleaves chunks, and a small audio message would
// overtake a large keyframe.
const (
	csidControl = 2
	csidCommand = 3
	csidMedia   = 6
	chunkSize   = 4096
)

// cmdReply is a command message from the server, its arguments decoded.
type cmdReply struct {
	name string
	txn  int64
	args []any
}

// info returns the code and description of the information object in a
// reply (_error, onStatus), if any.
func (r cmdReply) info() (level, code, desc string) {
	for _, a := range r.args {
		if m, ok := a.(map[string]any); ok {
			level, _ = m["level"].(string)
			code, _ = m["code"].(string)
			desc, _ = m["description"].(string)
			return level, code, desc
		}
	}
	return "", "", ""
}

// connectObject is the command object of connect; field order is wire order.
type connectObject struct {
	App      string  `amf0:"app"`
	Type     string  `amf0:"type"`
	FlashVer string  `amf0:"flashVer"`
	TCURL    string  `amf0:"tcUrl"`
	Encoding float64 `amf0:"objectEncoding"`
}

// dialRTMP connects to t and publishes its stream key; it returns once the
// server said NetStream.Publish.Start. timeout bounds everything from the
// TCP dial to that answer.
func dialRTMP(ctx context.Context, t target, timeout, writeTimeout time.Duration) (*rtmpConn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", t.addr, err)
	}
	c := &rtmpConn{nc: nc, writeTimeout: writeTimeout, replies: make(chan cmdReply, 16), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// Until the server accepted the publication, the deadline bounds every
	// step: when it expires, closing the socket unblocks what waits on it.
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	step, err := c.setup(ctx, t)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		_ = c.Close()
		return nil, fmt.Errorf("rtmp %s: %w", step, err)
	}
	return c, nil
}

// setup runs the handshake and the publish commands; it returns the step
// it was at, for errors.
func (c *rtmpConn) setup(ctx context.Context, t target) (string, error) {
	if err := handshake.HandshakeWithServer(c.nc, c.nc, &handshake.Config{}); err != nil {
		c.cs = nil
		close(c.done)
		return "handshake", err
	}
	c.cs = rtmp.NewChunkStreamer(bufio.NewReaderSize(c.nc, 4096), bufio.NewWriterSize(c.nc, 64*1024), nil)
	if err := c.cs.SelfState().SetChunkSize(chunkSize); err != nil {
		close(c.done)
		return "set chunk size", err
	}
	go c.readLoop()
	if err := c.write(csidControl, 0, &message.SetChunkSize{ChunkSize: chunkSize}); err != nil {
		return "set chunk size", err
	}

	err := c.command(0, "connect", 1, connectObject{
		App: t.app, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; roomctl)", TCURL: t.tcURL,
	})
	if err != nil {
		return "connect", err
	}
	r, err := c.await(ctx, func(r cmdReply) bool { return r.txn == 1 && (r.name == "_result" || r.name == "_error") })
	if err != nil {
		return "connect", err
	}
	if r.name == "_error" {
		_, code, desc := r.info()
		return "connect", fmt.Errorf("%w: app %q: %s %s", errRefused, t.app, code, desc)
	}

	// releaseStream and FCPublish are what encoders send before
	// createStream; some CDNs expect them. Their answers do not matter.
	if err := c.command(0, "releaseStream", 2, nil, t.key); err != nil {
		return "releaseStream", err
	}
	if err := c.command(0, "FCPublish", 3, nil, t.key); err != nil {
		return "FCPublish", err
	}
	if err := c.command(0, "createStream", 4, nil); err != nil {
		return "createStream", err
	}
	r, err = c.await(ctx, func(r cmdReply) bool { return r.txn == 4 && (r.name == "_result" || r.name == "_error") })
	if err != nil {
		return "createStream", err
	}
	id, ok := numberArg(r.args, 1)
	if r.name == "_error" || !ok {
		_, code, desc := r.info()
		return "createStream", fmt.Errorf("%w: %s %s", errRefused, code, desc)
	}
	c.streamID = uint32(id)

	if err := c.command(c.streamID, "publish", 0, nil, t.key, "live"); err != nil {
		return "publish", err
	}
	r, err = c.await(ctx, func(r cmdReply) bool { return r.name == "onStatus" || r.name == "_error" })
	if err != nil {
		return "publish", err
	}
	level, code, desc := r.info()
	if r.name == "_error" || level == "error" || code != "NetStream.Publish.Start" {
		return "publish", fmt.Errorf("%w: %s %s", errRefused, code, desc)
	}
	return "", nil
}

func numberArg(args []any, i int) (float64, bool) {
	if i >= len(args) {
		return 0, false
	}
	f, ok := args[i].(float64)
	return f, ok
}

// await waits for a reply that match accepts; others are dropped.
func (c *rtmpConn) await(ctx context.Context, match func(cmdReply) bool) (cmdReply, error) {
	for {
		select {
		case r := <-c.replies:
			if match(r) {
				return r, nil
			}
		case <-c.done:
			// Replies that arrived just before the close still count.
			select {
			case r := <-c.replies:
				if match(r) {
					return r, nil
				}
				continue
			default:
			}
			return cmdReply{}, fmt.Errorf("server closed the connection: %w", c.err())
		case <-ctx.Done():
			return cmdReply{}, ctx.Err()
		}
	}
}

// err is why the connection ended; call after done.
func (c *rtmpConn) err() error {
	if c.readErr != nil && !errors.Is(c.readErr, io.EOF) {
		return c.readErr
	}
	return errConnClosed
}

// Done is closed when the server closed the connection or reading failed.
func (c *rtmpConn) Done() <-chan struct{} { return c.done }

// readLoop reads what the server sends: chunk size changes, pings and
// command replies.
func (c *rtmpConn) readLoop() {
	defer close(c.done)
	defer func() {
		// go-rtmp's chunk reader panics on some malformed input.
		if r := recover(); r != nil {
			c.readErr = fmt.Errorf("rtmp read: %v", r)
		}
	}()
	var cm rtmp.ChunkMessage
	for {
		if _, _, err := c.cs.Read(&cm); err != nil {
			c.readErr = err
			return
		}
		switch m := cm.Message.(type) {
		case *message.SetChunkSize:
			if err := c.cs.PeerState().SetChunkSize(m.ChunkSize); err != nil {
				c.readErr = err
				return
			}
		case *message.UserCtrl:
			if ping, ok := m.Event.(*message.UserCtrlEventPingRequest); ok {
				_ = c.write(csidControl, 0, &message.UserCtrl{Event: &message.UserCtrlEventPingResponse{Timestamp: ping.Timestamp}})
			}
		case *message.CommandMessage:
			r := cmdReply{name: m.CommandName, txn: m.TransactionID}
			dec := amf0.NewDecoder(m.Body)
			for {
				var v any
				if err := dec.Decode(&v); err != nil {
					break
				}
				r.args = append(r.args, v)
			}
			select {
			case c.replies <- r:
			default: // nobody waits for replies once publishing
			}
		}
	}
}

// command writes a command message (AMF0) on stream streamID.
func (c *rtmpConn) command(streamID uint32, name string, txn int64, args ...any) error {
	var buf bytes.Buffer
	enc := amf0.NewEncoder(&buf)
	for _, a := range args {
		if err := enc.Encode(a); err != nil {
			return fmt.Errorf("encode %s: %w", name, err)
		}
	}
	return c.writeOn(csidCommand, 0, streamID, &message.CommandMessage{
		CommandName: name, TransactionID: txn, Encoding: message.EncodingTypeAMF0, Body: &buf,
	})
}

func (c *rtmpConn) write(csid int, ts uint32, msg message.Message) error {
	return c.writeOn(csid, ts, 0, msg)
}

// writeOn queues one message; go-rtmp's write loop sends it. An error of an
// earlier message surfaces here.
func (c *rtmpConn) writeOn(csid int, ts, streamID uint32, msg message.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.cs.Done():
		// The write loop stopped; writing more would block on its queue.
		if err := c.cs.Err(); err != nil {
			return err
		}
		return errConnClosed
	default:
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	ctx, cancel := context.WithTimeout(c.ctx, c.writeTimeout)
	defer cancel()
	return c.cs.Write(ctx, csid, ts, &rtmp.ChunkMessage{StreamID: streamID, Message: msg})
}

// writeTag sends one FLV tag on the published stream.
func (c *rtmpConn) writeTag(t *tag) error {
	var msg message.Message
	switch t.typ {
	case tagAudio:
		msg = &message.AudioMessage{Payload: bytes.NewReader(t.body)}
	case tagVideo:
		msg = &message.VideoMessage{Payload: bytes.NewReader(t.body)}
	default:
		// "@setDataFrame" makes the server keep the metadata and hand it
		// to every player that joins later.
		msg = &message.DataMessage{Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(t.body)}
	}
	return c.writeOn(csidMedia, t.ts, c.streamID, msg)
}

// finish tells the server the publication ends (deleteStream) and waits,
// up to the write timeout, until everything written left the process.
func (c *rtmpConn) finish() {
	if err := c.command(0, "deleteStream", 0, nil, float64(c.streamID)); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.writeTimeout)
	defer cancel()
	for _, csid := range []int{csidMedia, csidCommand} {
		// NewChunkWriter returns once the chunk stream's last message is
		// written; nothing is written on it afterwards.
		c.wmu.Lock()
		_, err := c.cs.NewChunkWriter(ctx, csid)
		c.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// Close closes the socket and stops both goroutines; safe to call twice.
func (c *rtmpConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		if c.cs != nil {
			_ = c.cs.Close() // stops the write loop
		}
		err = c.nc.Close()
		<-c.done
		if c.cs != nil {
			<-c.cs.Done()
		}
	})
	return err
}
