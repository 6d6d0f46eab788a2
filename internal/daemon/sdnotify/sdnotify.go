// Package sdnotify tells systemd about the service's state (sd_notify(3)):
// READY=1 once every listener is up (Type=notify), STOPPING=1 on the way
// down, and a STATUS= line for systemctl status. It writes one datagram to
// the AF_UNIX socket named by $NOTIFY_SOCKET; without that variable (not
// run by systemd) it does nothing.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Env is the variable systemd sets to the notification socket's path; a
// leading "@" names a socket in the abstract namespace.
const Env = "NOTIFY_SOCKET"

// Notify sends state (newline-separated VAR=value assignments) to
// $NOTIFY_SOCKET. It reports whether a message was sent: false with a nil
// error when the variable is unset.
func Notify(state string) (bool, error) {
	return NotifySocket(os.Getenv(Env), state)
}

// NotifySocket is Notify to an explicit socket path ("" sends nothing).
func NotifySocket(socket, state string) (bool, error) {
	if socket == "" {
		return false, nil
	}
	name := socket
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	} else if !strings.HasPrefix(name, "/") {
		return false, fmt.Errorf("sdnotify: %s=%q: want an absolute path or @abstract name", Env, socket)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	return true, nil
}
