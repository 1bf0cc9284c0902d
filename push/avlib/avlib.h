#include <stddef.h>

// avlib_load opens libavutil, libswscale and libavcodec (the versions the
// headers name), sets every forwarder and lowers libav's log level to
// errors; 0, or -1 with a message in err.
int avlib_load(char *err, size_t n);
// avlib_names is the file name of library i (0, 1, 2), or NULL.
const char *avlib_names(int i);
