package flash

import (
	"context"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func init() {
	persistence.RegisterDriver(config.TypeFlash, open)
}

func open(ctx context.Context, cfg config.ProviderConfig, env persistence.DriverEnv) (driver.Store, error) {
	c := cfg.(*config.FlashConfig)
	o, err := OptionsFromConfig(c)
	if err != nil {
		return nil, err
	}
	o.Logger = env.Logger
	o.ReadOnly = env.CheckOnly
	if c.EnableMultipathing && c.DataDir != "" && env.Logger != nil {
		env.Logger.Info("flash: data_dir is not used with enable_multipathing (the data lives in paths)", "data_dir", c.DataDir)
	}
	return Open(ctx, o)
}

// OptionsFromConfig maps the spec's Flash configuration onto Options
// (docs/flash.md has the details):
//
//	data_dir            → Paths = [data_dir] (one path, enable_multipathing false);
//	                      not used with enable_multipathing
//	paths               → Paths: with enable_multipathing, every entry is a
//	                      full copy; without it, its one entry when data_dir
//	                      is empty
//	enable_multipathing → several paths, written together, read from one
//	write_quorum        → WriteQuorum (0 = a majority of the paths)
//	sync                → Sync: pebble.Sync on every commit (fsync of the
//	                      write-ahead log before a write is acknowledged)
//	io_depth            → IODepth: the engine calls (reads, commits, over all
//	                      paths) in flight at once; not a device queue depth
//	                      (Pebble issues ordinary buffered I/O)
//	block_size          → Pebble LevelOptions.BlockSize on every level: the
//	                      target size of an sstable data block, uncompressed;
//	                      not a device I/O size
//	cache_size          → one Pebble block cache of that many bytes, shared
//	                      by all paths
//	compression         → values of 64 bytes or more (lz4 block / zstd
//	                      fastest, kept only if they shrink by an eighth) and
//	                      Pebble's sstable blocks: None → none, Zstd → zstd,
//	                      Lz4 → Pebble's fastest codec (MinLZ; Pebble has no
//	                      LZ4 block codec). Gzip is refused by validation.
//
// The spec's "direct I/O" has no mapping: Pebble reads and writes through
// the page cache and keeps its own block cache.
func OptionsFromConfig(c *config.FlashConfig) (Options, error) {
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	o := Options{
		WriteQuorum: c.WriteQuorum,
		Sync:        c.Sync,
		IODepth:     c.IODepth,
		BlockSize:   c.BlockSize,
		CacheSize:   c.CacheSize,
		Compression: string(c.Compression),
	}
	switch {
	case c.EnableMultipathing:
		o.Paths = append([]string(nil), c.Paths...)
	case c.DataDir != "":
		o.Paths = []string{c.DataDir}
	default:
		o.Paths = []string{c.Paths[0]}
	}
	return o, nil
}
