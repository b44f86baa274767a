// First: the page's CSP has no 'unsafe-eval', and zod must know before any schema is built.
import '@tabgrid/shared/no-eval';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import '@tabgrid/shared/site.css';
import './styles.css';

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
