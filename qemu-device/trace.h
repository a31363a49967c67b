#include "trace/trace-hw_virtio_virtio_hmm.h"
