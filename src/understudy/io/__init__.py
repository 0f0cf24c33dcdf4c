"""Reading inputs and writing outputs: file discovery, images, videos."""
