/**
 * Export to a SavedModel whose sampling loop is one While op, and a server that speaks TensorFlow
 * Serving's REST API (the export issue). Empty until that lands.
 */
package org.tfdiffusion.export;
