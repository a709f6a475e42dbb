import { analyze } from './analyze.processor.js';
import { erasure } from './erasure.processor.js';
import { finalizeUpload } from './finalize-upload.processor.js';
import { maintenance } from './maintenance.processor.js';
import { rehost } from './rehost.processor.js';
import type { Processors } from './types.js';
import { webhook } from './webhook.processor.js';

export const processors: Processors = { rehost, finalizeUpload, webhook, maintenance, erasure, analyze };
