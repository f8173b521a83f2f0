import { createApp } from 'vue'
import App from './App.vue'
import { setupI18n } from './locales'
import { setupPwa } from './pwa'
import { setupRouter } from './router'
import { setupStore } from './stores'
import './styles.css'

const app = createApp(App)
setupStore(app)
setupI18n(app)
setupRouter(app)
setupPwa()
app.mount('#app')
