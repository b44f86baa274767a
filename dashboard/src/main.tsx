import { parseWithoutEval } from '@tabgrid/shared';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import '@tabgrid/shared/site.css';
import './styles.css';

// The page's CSP has no 'unsafe-eval' (coordinator/src/http/security-headers.ts).
parseWithoutEval();

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
