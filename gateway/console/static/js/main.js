/* Alarm gateway console: the monitoring room's page. This module starts it; the others are
 * its parts (texts, dom, clock, state, api, sound, drill, session, stream, board, incident,
 * incident_work, incident_record, open, points, equipment, reports).
 *
 * Plain modern JavaScript in ES modules, no framework and no build step. The page talks to the daemon's API
 * (/api/...) and stays live from its Server-Sent Events (/api/stream): it never polls. Every
 * text that comes from a device, a playbook or an operator is inserted as a text node (h() in dom.js
 * and textContent), never parsed as HTML. The Content-Security-Policy allows no inline script or
 * style, so all behaviour is in these modules and all looks are in console.css.
 */

import { boot } from './session.js';

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
