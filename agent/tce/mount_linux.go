package tce

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LoopMounter mounts squashfs images through loop devices: a free device
// from /dev/loop-control (or, on kernels before 3.1, which have none, the
// first free /dev/loopN), bound read-only to the image with autoclear
// (LOOP_CONFIGURE, or LOOP_SET_FD and LOOP_SET_STATUS64 on kernels before
// 5.8), then mount(2) read-only; unmounting releases the device. When the
// kernel has no loop devices or no squashfs, the error wraps
// ErrNoKernelSupport.
type LoopMounter struct {
	// Prepare, when set, runs once before the first mount when the kernel
	// lacks squashfs or loop support, to load their modules.
	Prepare func() error

	once sync.Once
}

// Mount mounts image on dir read-only.
func (m *LoopMounter) Mount(image, dir string) error {
	m.once.Do(func() {
		if m.Prepare != nil && (!hasFilesystem("squashfs") || !exists("/dev/loop-control")) {
			// An error shows below, as the mount failing for what is
			// still missing.
			_ = m.Prepare()
		}
	})
	img, err := os.Open(image)
	if err != nil {
		return err
	}
	defer img.Close()
	dev, err := attachLoop(img, image)
	if err != nil {
		return err
	}
	err = unix.Mount(dev.Name(), dir, "squashfs", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, "")
	// With autoclear the device is released when the last reference
	// (this descriptor, or the mount) goes away.
	dev.Close()
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("%w: mount %s: no squashfs file system (load the squashfs module): %w", ErrNoKernelSupport, image, err)
		}
		return fmt.Errorf("mount %s on %s: %w", image, dir, err)
	}
	return nil
}

// Unmount unmounts dir (the loop device goes with it).
func (m *LoopMounter) Unmount(dir string) error {
	if err := unix.Unmount(dir, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// attachLoop binds a free loop device to img, read-only, with autoclear,
// retrying when another process takes the same free device first.
func attachLoop(img *os.File, name string) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return probeLoop(img, name)
	}
	if err != nil {
		return nil, fmt.Errorf("loop devices: %w", err)
	}
	defer ctl.Close()
	var last error
	for attempt := 0; attempt < 10; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("LOOP_CTL_GET_FREE: %w", err)
		}
		path := fmt.Sprintf("/dev/loop%d", n)
		dev, err := openLoop(path, n)
		if err != nil {
			return nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(img.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR
		copy(cfg.Info.File_name[:], name)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
			// Before Linux 5.8: LOOP_SET_FD, then the flags.
			err = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_SET_FD, int(img.Fd()))
			if err == nil {
				err = unix.IoctlLoopSetStatus64(int(dev.Fd()), &cfg.Info)
				if err != nil {
					unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
				}
			}
		}
		if err == nil {
			return dev, nil
		}
		dev.Close()
		last = fmt.Errorf("%s: %w", path, err)
		if !errors.Is(err, unix.EBUSY) {
			return nil, last
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return nil, last
}

// maxProbe bounds the /dev/loopN probing of kernels without
// /dev/loop-control (the loop driver makes 8 by default, max_loop 256).
const maxProbe = 256

// probeLoop binds the first free /dev/loopN to img, for kernels before
// 3.1: a device is free when LOOP_GET_STATUS64 says ENXIO. A device that
// cannot be opened (ENXIO, ENODEV) means no loop driver.
func probeLoop(img *os.File, name string) (*os.File, error) {
	for n := 0; n < maxProbe; n++ {
		path := fmt.Sprintf("/dev/loop%d", n)
		dev, err := openLoop(path, n)
		if err != nil {
			if n == 0 || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV) {
				return nil, fmt.Errorf("%w: no /dev/loop-control and %w (load the loop module)", ErrNoKernelSupport, err)
			}
			return nil, err
		}
		if _, err := unix.IoctlLoopGetStatus64(int(dev.Fd())); !errors.Is(err, unix.ENXIO) {
			dev.Close() // bound already (or not a loop device)
			continue
		}
		err = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_SET_FD, int(img.Fd()))
		if errors.Is(err, unix.EBUSY) {
			dev.Close() // taken meanwhile
			continue
		}
		if err == nil {
			info := unix.LoopInfo64{Flags: unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR}
			copy(info.File_name[:], name)
			if err = unix.IoctlLoopSetStatus64(int(dev.Fd()), &info); err != nil {
				unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
			}
		}
		if err != nil {
			dev.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return dev, nil
	}
	return nil, fmt.Errorf("loop devices: /dev/loop0 to /dev/loop%d are all busy", maxProbe-1)
}

// openLoop opens /dev/loopN, creating the node when no devtmpfs made it.
func openLoop(path string, n int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if err := unix.Mknod(path, unix.S_IFBLK|0o660, int(unix.Mkdev(7, uint32(n)))); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		f, err = os.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			os.Remove(path) // made for nothing: no driver behind it
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func hasFilesystem(name string) bool {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 0 && fs[len(fs)-1] == name {
			return true
		}
	}
	return false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// chownLike gives p the owner of info's file (only root can).
func chownLike(p string, info fs.FileInfo, link bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return
	}
	if link {
		os.Lchown(p, int(st.Uid), int(st.Gid))
	} else {
		os.Chown(p, int(st.Uid), int(st.Gid))
	}
}

// copySpecial recreates a device node or fifo.
func copySpecial(from, to string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot copy a %s", from, info.Mode().Type())
	}
	if err := unix.Mknod(to, st.Mode, int(st.Rdev)); err != nil {
		return err
	}
	chownLike(to, info, false)
	return nil
}

// machine is uname -m.
func machine() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Machine[:])
}
